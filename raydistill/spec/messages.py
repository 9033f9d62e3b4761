"""Turn pydantic validation errors into `dotted.path: what is wrong; what is allowed` messages.

The "what is allowed" half is read from the schema itself (field annotations, bounds, Literal values,
descriptions), so a new field gets helpful messages without touching this module.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from raydistill.spec.schema import Spec

TYPE_ERRORS = {
    "int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "bool_type", "bool_parsing",
    "string_type", "list_type", "model_type", "model_attributes_type", "dict_type", "finite_number",
}  # fmt: skip
BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
BOUND_SIGNS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def translate(exc: ValidationError) -> list[tuple[str, str]]:
    """One `(dotted path, message)` per pydantic error; list indices appear as numbers (`supernet.widths.1`)."""
    return [(".".join(str(p) for p in err["loc"]), _message(err)) for err in exc.errors(include_url=False)]


def _message(err: Any) -> str:
    kind, loc, given = err["type"], tuple(err["loc"]), err.get("input")
    if kind == "missing":
        return _missing(loc)
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "literal_error":
        return _literal(loc, given)
    if kind in TYPE_ERRORS:
        return _wrong_type(loc, given)
    if kind in BOUND_ERRORS:
        return f"got {show(given)}; allowed: {_bounds(loc) or err['msg']}"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{err['msg']} (got {show(given)}); expected {_expected(loc)}"


def _missing(loc: tuple[Any, ...]) -> str:
    name = loc[-1]
    model = _model(annotation_at(loc)[0])
    if model is not None:
        need = [f"`{k}:` ({f.description or k})" for k, f in model.model_fields.items() if f.is_required()]
        return f"missing required section; add `{name}:` with {', '.join(need) or 'its keys'}"
    field = _field(loc)
    about = f" ({field.description})" if field is not None and field.description else ""
    return f"missing required key; add `{name}:`{about}"


# Keys that moved: the old dotted path -> where its value lives now, and why.
MOVED = {
    "search.flops_seq_length": ("cost.seq_length", "one cost length prices every model of a run"),
}


def _unknown_key(loc: tuple[Any, ...]) -> str:
    dotted = ".".join(str(p) for p in loc)
    if dotted in MOVED:
        new, why = MOVED[dotted]
        section, key = new.split(".")
        return f"moved to `{new}` ({why}); write it as `{section}:` with `{key}:` instead"
    key = str(loc[-1])
    model = _model(annotation_at(loc[:-1])[0])
    if model is None:
        return "unknown key; remove it"
    allowed = list(model.model_fields)
    nested = [f"{k}.{sub}" for k in allowed for sub in _sub_keys(model, k)]
    # e.g. `supernet.epochs` -> `supernet.train.epochs`; else a near spelling of a key at this level
    parent = "".join(f"{p}." for p in loc[:-1])
    close = [parent + n for n in nested if n.rsplit(".", 1)[-1] == key][:1]
    close = close or difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    did = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {did}allowed keys: {', '.join(allowed)}"


def _sub_keys(model: type[BaseModel], key: str) -> list[str]:
    sub = _model(model.model_fields[key].annotation)
    return list(sub.model_fields) if sub is not None else []


def _literal(loc: tuple[Any, ...], given: Any) -> str:
    values = [str(v) for v in get_args(_unwrap(annotation_at(loc)[0]))]
    close = difflib.get_close_matches(str(given), values, n=1) if isinstance(given, str) else []
    did = f"did you mean {close[0]!r}? " if close else ""
    return f"got {show(given)}; {did}allowed: {', '.join(values)}"


def _wrong_type(loc: tuple[Any, ...], given: Any) -> str:
    expected = _expected(loc)
    if given is None and _model(annotation_at(loc)[0]) is not None:
        return f"empty section (null); expected {expected}, or remove `{loc[-1]}:` to use the defaults"
    return f"got {show(given)} ({kind_of(given)}); expected {expected}"


def _expected(loc: tuple[Any, ...]) -> str:
    """`an integer`, `a number (0 < value <= 1)`, `one of: all, sandwich`, `a mapping with keys: ...`."""
    ann, _ = annotation_at(loc)
    base = _unwrap(ann)
    nullable = " or null" if _is_optional(ann) else ""
    model = _model(base)
    if model is not None:
        return f"a mapping with keys: {', '.join(model.model_fields)}{nullable}"
    if get_origin(base) is Literal:
        return f"one of: {', '.join(str(v) for v in get_args(base))}"
    if get_origin(base) is list:
        return f"a list, e.g. [1.0, 0.5]{nullable}"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    what = names.get(base, "a value of another type") if isinstance(base, type) else "a valid value"
    if base is str:
        what += " (quote it if it looks like a number, date or boolean)"
    bounds = _bounds(loc)
    return what + (f" ({bounds})" if bounds else "") + nullable


def _bounds(loc: tuple[Any, ...]) -> str:
    """The numeric constraints on a field as text, e.g. `0 < value <= 1`."""
    _, meta = annotation_at(loc)
    found = {a: getattr(m, a) for m in meta for a, _ in BOUND_SIGNS if getattr(m, a, None) is not None}
    low = [(f"{found[a]:g}", s) for a, s in BOUND_SIGNS[:2] if a in found]
    high = [(f"{found[a]:g}", s) for a, s in BOUND_SIGNS[2:] if a in found]
    if low and high:  # `0 < value <= 1`: flip the lower sign so it reads left to right
        return f"{low[0][0]} {low[0][1].replace('>', '<')} value {high[0][1]} {high[0][0]}"
    return " and ".join(f"value {s} {n}" for n, s in low + high)


def annotation_at(loc: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    """The type annotation at a pydantic `loc` (walking from `Spec`) and its constraint metadata."""
    ann: Any = Spec
    meta: list[Any] = []
    for seg in loc:
        base = _unwrap(ann)
        if isinstance(seg, int) and get_origin(base) is list:
            ann, meta = get_args(base)[0], []
        elif _model(base) is not None and seg in base.model_fields:
            field = base.model_fields[seg]
            ann, meta = field.annotation, list(field.metadata)
        else:
            return None, []
        meta += _annotated_meta(ann)
    return ann, meta


def _field(loc: tuple[Any, ...]) -> Any:
    model = _model(annotation_at(loc[:-1])[0])
    return model.model_fields.get(loc[-1]) if model is not None else None


def _annotated_meta(ann: Any) -> list[Any]:
    if get_origin(ann) is not Annotated:
        return []
    out: list[Any] = []
    for extra in get_args(ann)[1:]:
        out += list(getattr(extra, "metadata", [extra]))
    return out


def _unwrap(ann: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to X."""
    if get_origin(ann) is Annotated:
        return _unwrap(get_args(ann)[0])
    if _is_optional(ann):
        rest = [a for a in get_args(ann) if a is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else ann
    return ann


def _is_optional(ann: Any) -> bool:
    return get_origin(ann) in (Union, types.UnionType) and type(None) in get_args(ann)


def _model(ann: Any) -> type[BaseModel] | None:
    base = _unwrap(ann)
    return base if isinstance(base, type) and issubclass(base, BaseModel) else None


def show(value: Any) -> str:
    """A short YAML-ish rendering of a user value for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: Any) -> str:
    """`a string`, `an integer`, `true/false`, `a list`... for `got X (KIND)`."""
    if isinstance(value, bool):
        return "true/false"
    kinds = [
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a mapping"),
    ]
    return next(
        (name for t, name in kinds if isinstance(value, t)), "null" if value is None else type(value).__name__
    )
