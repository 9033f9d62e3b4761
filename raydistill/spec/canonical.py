"""Canonical forms of a validated spec: a plain dict, a YAML text, and stable content hashes for stage caching."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from raydistill.spec.schema import Spec


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as JSON-compatible plain data, every default filled in."""
    return spec.model_dump(mode="json")


# Fields added after runs were cached, with the value that means "as before": at that value a field is left out
# of every cache key (`keyed_dict`), so adding it kept the keys, and the caches, of existing runs.
NEUTRAL_ADDITIONS = {"supernet.length.hidden_weight": 0.0}


def keyed_dict(spec: Spec) -> dict[str, Any]:
    """`spec_to_dict` less the `NEUTRAL_ADDITIONS` fields that hold their neutral value: what cache keys read."""
    full = spec_to_dict(spec)
    for path, neutral in NEUTRAL_ADDITIONS.items():
        *parents, leaf = path.split(".")
        owner = _section(full, ".".join(parents))
        if owner.get(leaf) == neutral:
            del owner[leaf]
    return full


def spec_hash(spec: Spec, *sections: str, exclude: tuple[str, ...] = ()) -> str:
    """A stable sha256 (hex) of the given sections of `spec` (all of it when none is given).

    Sections are top-level keys (`"data"`, `"seed"`) or dotted paths into them (`"supernet.train"`). The hash covers
    the canonical JSON (sorted keys, no whitespace) of `{section: value}`, so it does not depend on key order in
    the YAML, and two sections with equal values (e.g. `task` and `name`) still hash differently. `exclude`
    names dotted paths left out of the hash (`"search.retrain"`: a search does not depend on its re-training).

    Raises:
        ValueError: a section (or excluded path) that is not a key of the spec (a programming error).
    """
    full = keyed_dict(spec)
    for path in exclude:
        *parents, leaf = path.split(".")
        owner = _section(full, ".".join(parents)) if parents else full
        _section(full, path)  # raises on an unknown path
        del owner[leaf]
    chosen = {s: _section(full, s) for s in sections} if sections else full
    text = json.dumps(chosen, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _section(full: dict[str, Any], section: str) -> Any:
    node: Any = full
    for part in section.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"spec_hash: unknown section {section!r}; top-level sections: {', '.join(full)}")
        node = node[part]
    return node


def dump_spec(spec: Spec) -> str:
    """The spec as YAML text (every default written out) that `load_spec` reads back to an equal `Spec`."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False, allow_unicode=True, default_flow_style=None)
