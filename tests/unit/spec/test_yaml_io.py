"""The YAML reader: plain objects, the dotted-path -> line map, and file-level problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.errors import SpecError
from raydistill.spec import check_spec
from raydistill.spec.yaml_io import parse_yaml, read_yaml

TEXT = """\
# a comment line
name: t
supernet:
  widths:
    - 1.0
    - 0.5
  depths: [1.0, 0.5]
  train:
    epochs: 2
on: yes
"""


def test_values_and_line_map(write) -> None:
    data, lines = read_yaml(write(TEXT))
    assert data == {
        "name": "t",
        "supernet": {"widths": [1.0, 0.5], "depths": [1.0, 0.5], "train": {"epochs": 2}},
        "on": True,  # the KEY stays the text "on" (YAML 1.1 would make it True); the value is still YAML
    }
    assert lines == {
        "name": 2,
        "supernet": 3,
        "supernet.widths": 4,
        "supernet.widths.0": 5,
        "supernet.widths.1": 6,
        "supernet.depths": 7,
        "supernet.depths.0": 7,
        "supernet.depths.1": 7,
        "supernet.train": 8,
        "supernet.train.epochs": 9,
        "on": 10,
    }


def test_bom_is_accepted(write) -> None:
    data, lines = read_yaml(write(b"\xef\xbb\xbfname: t\n"))
    assert data == {"name": "t"} and lines == {"name": 1}


def test_anchors_and_merge_keys() -> None:
    text = "base: &b\n  epochs: 2\n  batch_size: 8\nuse:\n  <<: *b\n  epochs: 1\nalias: *b\n"
    data, lines = parse_yaml(text, "s.yaml")
    assert data["use"] == {
        "epochs": 1,
        "batch_size": 8,
    }  # explicit key wins over the merged one, no duplicate
    assert data["alias"] == {"epochs": 2, "batch_size": 8}
    assert lines["use.epochs"] == 6


def test_merge_sequence_first_wins() -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n"
    data, _ = parse_yaml(text, "s.yaml")
    assert data["c"] == {"x": 1, "y": 2}


def test_duplicate_keys_all_reported() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\n  c: 3\na: 2\n"
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "s.yaml")
    assert info.value.problems == [
        "s.yaml:4: b.c: duplicate key 'c' (first at line 3); each key may appear once, keep one of them",
        "s.yaml:5: b.c: duplicate key 'c' (first at line 3); each key may appear once, keep one of them",
        "s.yaml:6: a: duplicate key 'a' (first at line 1); each key may appear once, keep one of them",
    ]


def test_recursive_alias_is_a_problem_not_a_crash() -> None:
    with pytest.raises(SpecError, match=r"s.yaml:1: x.0: recursive YAML alias"):
        parse_yaml("x: &a [*a]\n", "s.yaml")


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]  # 10**7 values
    with pytest.raises(SpecError, match="alias bomb"):
        parse_yaml("\n".join(lines) + "\n", "s.yaml")


def test_syntax_error_at_end_points_at_last_line() -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml("name: t\nteacher: [\n", "s.yaml")
    assert info.value.problems[0].startswith("s.yaml:2: (file): YAML syntax error")


def test_missing_file_suggests_a_close_name(tmp_path: Path, write) -> None:
    write("name: t\n", "quickstart.yaml")
    spec, problems = check_spec(str(tmp_path / "quickstrat.yaml"))
    assert spec is None
    assert problems == [
        f"{tmp_path / 'quickstrat.yaml'}:1: (file): file not found; did you mean '{tmp_path / 'quickstart.yaml'}'?"
    ]


def test_missing_file_in_missing_dir(tmp_path: Path) -> None:
    _, problems = check_spec(str(tmp_path / "nope" / "x.yaml"))
    assert problems[0].startswith(f"{tmp_path / 'nope' / 'x.yaml'}:1: (file): file not found; directory")


def test_directory_lists_its_specs(tmp_path: Path, write) -> None:
    write("name: t\n", "a.yaml")
    write("name: t\n", "b.yml")
    _, problems = check_spec(str(tmp_path))
    assert problems == [
        f"{tmp_path}:1: (file): is a directory, not a spec file; spec files in it: a.yaml, b.yml"
    ]


def test_problem_uses_the_path_as_given(write, tmp_path: Path, monkeypatch) -> None:
    write("name: t\nname: u\n", "rel.yaml")
    monkeypatch.chdir(tmp_path)
    _, problems = check_spec("rel.yaml")
    assert problems[0].startswith("rel.yaml:2: name: duplicate key")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "s.yaml:1: (file): nested too deeply"),
        ("a: 1\n---\nb: 2\n", "s.yaml:2: (file): YAML syntax error: expected a single document"),
        ("name: t\nx: !!set {a}\n", "s.yaml:2: x: YAML tag 'tag:yaml.org,2002:set' is not allowed"),
        ("? [a, b]\n: 1\n", "s.yaml:1: (file): a key is a list"),
    ],
)
def test_odd_yaml_is_a_problem_not_a_crash(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "s.yaml")
    assert info.value.problems[0].startswith(expected)


def test_unusable_paths_are_problems(tmp_path: Path) -> None:
    assert check_spec("bad\0name.yaml")[1][0].startswith("bad\0name.yaml:1: (file): ")
    long_name = str(tmp_path / ("x" * 5000 + ".yaml"))
    assert check_spec(long_name)[1][0].startswith(f"{long_name}:1: (file): ")


def test_dates_that_are_not_dates_stay_text(write) -> None:
    data, _ = read_yaml(write("name: 2024-13-01\n"))
    assert data == {"name": "2024-13-01"}
