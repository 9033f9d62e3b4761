"""Read a spec YAML into plain Python objects plus a map from dotted path to line number.

This is the ONLY reader of YAML files in raydistill. It works on PyYAML's composed node tree (not on
`yaml.safe_load`) so that every key keeps its line (`node.start_mark`) and so that duplicate keys, which plain
loaders silently resolve to the last value, are rejected with both lines named.

Every problem is one line `SPEC:LINE: dotted.path: what is wrong; what is allowed` (file-level problems use the
path `(file)`), raised together in one `SpecError`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from raydistill.errors import SpecError

FILE = "(file)"  # dotted-path stand-in for problems that concern the whole file
MERGE_TAG = "tag:yaml.org,2002:merge"
PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
MAX_NODES = 100_000  # a spec has a few hundred values; far more means an alias bomb

LineMap = dict[str, int]


def join_path(parent: str, key: str | int) -> str:
    """`join_path("supernet", "widths") == "supernet.widths"`; the root is the empty string."""
    return f"{parent}.{key}" if parent else str(key)


def read_yaml(path: str | Path) -> tuple[dict[str, Any], LineMap]:
    """Read a spec file.

    Args:
        path: the spec file, as the user gave it (it is echoed in every problem line).

    Returns:
        `(data, lines)`: the top-level mapping as plain dicts/lists/scalars, and the 1-based line of every key
        and list item, keyed by dotted path (`"supernet.widths.1"`).

    Raises:
        SpecError: missing file, a directory, non-UTF-8 bytes, empty file, YAML syntax error, a top level that
            is not a mapping, or duplicate keys (all of them, each naming both lines).
    """
    label = str(path)
    try:
        text = _read_text(Path(path), label)
    except (OSError, ValueError) as exc:  # a NUL byte or an over-long name in the path
        raise SpecError(
            f"{label}:1: {FILE}: cannot open ({exc}); give the path to a spec .yaml file"
        ) from None
    return parse_yaml(text, label)


def parse_yaml(text: str, label: str) -> tuple[dict[str, Any], LineMap]:
    """Parse spec text (see `read_yaml`); `label` names the source in problem lines."""
    root = _compose(text, label)
    builder = _Builder(label)
    try:
        data = builder.build(root, "")
    except RecursionError:
        raise SpecError(f"{label}:1: {FILE}: nested too deeply for a spec; flatten the YAML") from None
    if builder.problems:
        raise SpecError(builder.problems)
    return data, builder.lines


def _compose(text: str, label: str) -> MappingNode:
    """The node tree of the one YAML document in `text`, which must be a mapping."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(_syntax_problem(label, exc, text)) from None
    except yaml.YAMLError as exc:  # unmarked errors are rare (e.g. a stream-level reader problem)
        raise SpecError(f"{label}:1: {FILE}: YAML error: {exc}; fix the YAML syntax") from None
    except RecursionError:
        raise SpecError(f"{label}:1: {FILE}: nested too deeply for a spec; flatten the YAML") from None
    if root is None:
        raise SpecError(
            f"{label}:1: {FILE}: file is empty; write a mapping with at least `name:`, `task:` and `teacher:`"
        )
    if not isinstance(root, MappingNode):
        kind = "a list (remove the leading '- ')" if isinstance(root, SequenceNode) else "a single value"
        raise SpecError(
            f"{label}:{root.start_mark.line + 1}: {FILE}: the top level is {kind}; a spec is a mapping of keys "
            "such as `name:`, `task:`, `teacher:`"
        )
    return root


def _read_text(path: Path, label: str) -> str:
    """The file's text (UTF-8, optional BOM), or a SpecError saying why it cannot be read."""
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))[:10]
        hint = f"spec files in it: {', '.join(found)}" if found else "it holds no .yaml files"
        raise SpecError(f"{label}:1: {FILE}: is a directory, not a spec file; {hint}")
    if not path.exists():
        raise SpecError(f"{label}:1: {FILE}: file not found; {_nearby_hint(path)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(
            f"{label}:1: {FILE}: cannot read ({exc.strerror}); check the file's permissions"
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"{label}:{line}: {FILE}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8; "
            "save the file as UTF-8"
        ) from None


def _nearby_hint(path: Path) -> str:
    """Suggest a similarly named spec next to a missing one."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"directory {str(parent)!r} does not exist either; give the path to a spec .yaml file"
    names = sorted(p.name for p in parent.glob("*.y*ml"))
    stems = {Path(n).stem: n for n in names}  # compare stems: the shared ".yaml" would make anything "close"
    close = difflib.get_close_matches(path.stem, list(stems), n=1)
    if close:
        return f"did you mean {str(parent / stems[close[0]])!r}?"
    if names:
        return f"spec files in {str(parent)!r}: {', '.join(names[:10])}"
    return "give the path to a spec .yaml file"


def _syntax_problem(label: str, exc: yaml.MarkedYAMLError, text: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    last_line = max(1, len(text.rstrip("\n").splitlines()))  # an error "at the end" points at the last line
    line = min(mark.line + 1, last_line) if mark is not None else 1
    what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
    hint = "indent with spaces, not tabs" if "'\\t'" in what else "fix the YAML syntax at this line"
    return f"{label}:{line}: {FILE}: YAML syntax error: {what}; {hint}"


class _Builder:
    """Turns a composed node tree into plain objects, recording lines and duplicate keys."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: LineMap = {}
        self.problems: list[str] = []
        self._ctor = SafeConstructor()
        self._active: set[int] = set()  # ids of nodes being built (a recursive alias would loop forever)
        self._count = 0

    def build(self, node: Node, path: str) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            raise SpecError(
                f"{self.label}:1: {FILE}: more than {MAX_NODES} values (alias bomb?); simplify the file"
            )
        if id(node) in self._active:
            raise SpecError(
                f"{self.label}:{node.start_mark.line + 1}: {path or FILE}: recursive YAML alias; "
                "write the value out instead of referring to itself"
            )
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if node.tag not in PLAIN_TAGS:  # e.g. !!python/object on a mapping: never constructed, but say so
            self.problems.append(
                f"{self.label}:{node.start_mark.line + 1}: {path or FILE}: YAML tag {node.tag!r} is not allowed "
                "in a spec; remove the tag (plain mappings and lists only)"
            )
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self._item(child, join_path(path, i)) for i, child in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, path: str) -> Any:
        try:
            return self._ctor.construct_object(node, deep=True)
        except ConstructorError as exc:  # an unknown tag such as !!python/name:os.system
            self.problems.append(
                f"{self.label}:{node.start_mark.line + 1}: {path or FILE}: {exc.problem}; "
                "remove the tag (plain values only)"
            )
            return None
        except ValueError:  # looks like a date but is not one (2024-13-45): keep the text
            return node.value

    def _item(self, node: Node, path: str) -> Any:
        self.lines[path] = node.start_mark.line + 1
        return self.build(node, path)

    def _mapping(self, node: MappingNode, path: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:  # `<<: *defaults` first: explicit keys of this mapping win
            if key_node.tag == MERGE_TAG:
                merged.update(self._merge(value_node, path, key_node.start_mark.line + 1))
        own: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:
                continue
            key = self._key(key_node, path, line)
            if key is None:
                continue
            sub = join_path(path, key)
            if key in first_line:
                self.problems.append(
                    f"{self.label}:{line}: {sub}: duplicate key {key!r} (first at line {first_line[key]}); "
                    "each key may appear once, keep one of them"
                )
            first_line.setdefault(key, line)
            self.lines[sub] = line
            own[key] = self.build(value_node, sub)
        return {**merged, **own}

    def _key(self, key_node: Node, path: str, line: int) -> str | None:
        """Keys are kept as written (`on:` stays "on", not True); non-scalar keys are a problem."""
        if isinstance(key_node, ScalarNode):
            return str(key_node.value)
        self.problems.append(
            f"{self.label}:{line}: {path or FILE}: a key is a {'list' if isinstance(key_node, SequenceNode) else 'mapping'}; "
            "keys must be plain names such as `epochs`"
        )
        return None

    def _merge(self, node: Node, path: str, line: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in reversed(sources):  # in `<<: [*a, *b]` the keys of *a win
            value = self.build(source, path)
            if not isinstance(value, dict):
                self.problems.append(
                    f"{self.label}:{line}: {path or FILE}: `<<` merges a non-mapping; merge only mappings (&anchors)"
                )
                continue
            out.update(value)
        return out
