"""`key.sub=value` overrides: applied before validation, located as `SPEC:override N` in problems."""

from __future__ import annotations

import pytest

from raydistill.spec import check_spec, load_spec
from raydistill.spec.overrides import apply_overrides, parse_override
from tests.unit.spec.conftest import MINIMAL


def test_parse_values_as_yaml() -> None:
    assert parse_override("search.budgets=[0.3,0.6]") == (["search", "budgets"], [0.3, 0.6])
    assert parse_override("data.path=null") == (["data", "path"], None)
    assert parse_override("data.path=") == (["data", "path"], None)
    assert parse_override("teacher.finetuned=true") == (["teacher", "finetuned"], True)
    assert parse_override("name=a=b") == (["name"], "a=b")  # only the first '=' splits
    assert parse_override(" seed = 7") == (["seed"], 7)


def test_nested_list_null_and_new_sections(write) -> None:
    path = write(MINIMAL + "data:\n  path: /somewhere\nsupernet:\n  widths: [1.0, 0.5]\n")
    spec = load_spec(
        path,
        [
            "supernet.train.epochs=2",
            "search.budgets=[0.3,0.6]",
            "data.path=null",
            "supernet.widths.1=0.6",
            "supernet.length.num_sandwich=3",  # creates a section the file does not have
            "seed=7",
            "seed=8",  # a later override wins
        ],
    )
    assert spec.supernet.train.epochs == 2.0
    assert spec.search.budgets == [0.3, 0.6]
    assert spec.data.path is None
    assert spec.supernet.widths == [1.0, 0.6]
    assert spec.supernet.length.num_sandwich == 3
    assert spec.seed == 8


def test_override_fills_an_empty_section(write) -> None:
    spec = load_spec(write(MINIMAL + "search:\n"), ["search.num_trials=5"])
    assert spec.search.num_trials == 5


def test_override_fixes_a_bad_value_in_the_file(write) -> None:
    path = write(MINIMAL + "search:\n  budgets: [0.5, 0.25]\n")
    assert check_spec(path)[0] is None
    assert load_spec(path, ["search.budgets=[0.25,0.5]"]).search.budgets == [0.25, 0.5]


def test_override_does_not_touch_the_input() -> None:
    data = {"search": {"budgets": [0.5]}}
    where = {"search": 1, "search.budgets": 2, "search.budgets.0": 2}
    new, new_where, problems = apply_overrides(data, where, ["search.budgets=[0.1]"], "s.yaml")
    assert problems == []
    assert data == {"search": {"budgets": [0.5]}} and where["search.budgets"] == 2
    assert new == {"search": {"budgets": [0.1]}}
    assert new_where == {"search": 1, "search.budgets": "override 1"}  # stale item lines removed


@pytest.mark.parametrize(
    ("override", "prefix", "hint"),
    [
        ("searchnum_trials", "override 1: searchnum_trials: ", "has no '='"),
        ("=3", "override 1: (override): ", "empty key"),
        ("search..num_trials=3", "override 1: search..num_trials: ", "empty key"),
        (".seed=3", "override 1: .seed: ", "empty key"),
        ("name.first=x", "override 1: name.first: ", "cannot index into name, which is a single value ('t')"),
        ("supernet.widths.1.x=1", "override 1: supernet.widths.1.x: ", "cannot index into supernet.widths.1"),
        ("supernet.widths.5=0.5", "override 1: supernet.widths.5: ", "list of 2 item(s); index it with 0..1"),
        ("supernet.widths.first=0.5", "override 1: supernet.widths.first: ", "not 'first'"),
        ("search.budgets=[0.3,", "override 1: search.budgets: ", "is not valid YAML"),
    ],
)
def test_malformed_overrides(write, override: str, prefix: str, hint: str) -> None:
    path = write(MINIMAL + "supernet:\n  widths: [1.0, 0.5]\n")
    spec, problems = check_spec(path, [override])
    assert spec is None
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{prefix}"), problems
    assert hint in problems[0]


def test_bad_values_point_at_their_override(write) -> None:
    path = write(MINIMAL)
    _, problems = check_spec(path, ["seed=1", "search.num_trials=0", "supernet.widht=[1.0]", "task=sst3"])
    assert [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems] == [
        f"{path}:override 2: search.num_trials",
        f"{path}:override 3: supernet.widht",
    ]  # schema problems first; the rules (unknown task) run once the schema is valid
    assert "did you mean 'widths'?" in problems[1]
    _, problems = check_spec(path, ["task=sst3"])
    assert problems[0].startswith(f"{path}:override 1: task: unknown task 'sst3'; did you mean 'sst2'?")


def test_missing_key_under_an_override_created_section(write) -> None:
    path = write("name: t\ntask: sst2\n")
    _, problems = check_spec(path, ["teacher.finetuned=true"])
    assert problems[0].startswith(f"{path}:override 1: teacher.model: missing required key")


def test_malformed_and_file_problems_reported_together(write) -> None:
    path = write(MINIMAL + "seed: x\n")
    _, problems = check_spec(path, ["oops"])
    assert [p.split(": ")[0] for p in problems] == [f"{path}:5", f"{path}:override 1"]
