"""Bad specs: each must yield a problem line with the exact `SPEC:LINE: dotted.path:` prefix and a useful hint.

Line numbers are counted by hand from the YAML text of each case (MINIMAL is 4 lines).
"""

from __future__ import annotations

import pytest

from raydistill.errors import SpecError
from raydistill.spec import check_spec, load_spec
from tests.unit.spec.conftest import MINIMAL

M = MINIMAL
CASES = [
    # unknown keys, with did-you-mean
    pytest.param(M + "seeed: 1\n", 5, "seeed", "did you mean 'seed'?", id="unknown-top-level"),
    pytest.param(
        M + "supernet:\n  widht: [1.0]\n", 6, "supernet.widht", "did you mean 'widths'?", id="unknown-nested"
    ),
    pytest.param(
        M + "supernet:\n  train:\n    epoch: 2\n",
        7,
        "supernet.train.epoch",
        "did you mean 'epochs'?",
        id="unknown-deep",
    ),
    pytest.param(
        M + "supernet:\n  epochs: 2\n",
        6,
        "supernet.epochs",
        "did you mean 'supernet.train.epochs'?",
        id="key-one-level-up",
    ),
    pytest.param(M + "1: x\n", 5, "1", "allowed keys: name, task, data", id="non-string-key"),
    pytest.param(
        M + "search:\n  flops_seq_length: 32\n",
        6,
        "search.flops_seq_length",
        "moved to `cost.seq_length`",
        id="moved-key",
    ),
    # wrong types
    pytest.param(
        M + "search:\n  num_trials: many\n", 6, "search.num_trials", "expected an integer", id="str-for-int"
    ),
    pytest.param(
        M + "search:\n  num_trials: 10.5\n", 6, "search.num_trials", "expected an integer", id="float-for-int"
    ),
    pytest.param(
        M + "supernet:\n  widths: 0.5\n", 6, "supernet.widths", "expected a list", id="scalar-for-list"
    ),
    pytest.param(
        "name: t\ntask: sst2\nteacher: bert-base-uncased\n",
        3,
        "teacher",
        "expected a mapping with keys: model",
        id="scalar-for-section",
    ),
    pytest.param(
        M + "export:\n  enabled: maybe\n", 6, "export.enabled", "expected true or false", id="bad-bool"
    ),
    pytest.param(M + "search:\n", 5, "search", "empty section (null)", id="null-section"),
    pytest.param(
        M + "supernet:\n  train:\n    learning_rate: fast\n",
        7,
        "supernet.train.learning_rate",
        "expected a number (0 < value < 1)",
        id="str-for-float",
    ),
    # Literal values
    pytest.param(
        M + "search:\n  sampler: nsga3\n",
        6,
        "search.sampler",
        "did you mean 'nsga2'? allowed: nsga2, tpe, random, evolution, gp, auto",
        id="literal",
    ),
    pytest.param(M + "search:\n  sampler: gpp\n", 6, "search.sampler", "did you mean 'gp'?", id="literal-gp"),
    pytest.param(
        M + "export:\n  formats: [hf, pdf]\n",
        6,
        "export.formats.1",
        "allowed: hf, onnx",
        id="literal-in-list",
    ),
    pytest.param(
        M + "data:\n  source: tsv\n", 6, "data.source", "allowed: auto, hub, glue", id="literal-source"
    ),
    # widths / depths / budgets
    pytest.param(
        M + "supernet:\n  widths: [0.75, 0.5]\n", 6, "supernet.widths", "must contain 1.0", id="widths-no-1"
    ),
    pytest.param(
        M + "supernet:\n  widths:\n    - 1.0\n    - 1.5\n",
        8,
        "supernet.widths.1",
        "got 1.5; allowed: 0 < value <= 1",
        id="width-above-1",
    ),
    pytest.param(
        M + "supernet:\n  depths: [1.0, 0]\n", 6, "supernet.depths.1", "0 < value <= 1", id="depth-zero"
    ),
    pytest.param(
        M + "supernet:\n  widths: [1.0, 1.0]\n", 6, "supernet.widths", "duplicates", id="widths-dup"
    ),
    pytest.param(
        M + "supernet:\n  widths: []\n", 6, "supernet.widths", "must not be empty", id="widths-empty"
    ),
    pytest.param(
        M + "search:\n  budgets: [0.5, 0.25]\n",
        6,
        "search.budgets",
        "not strictly ascending",
        id="budgets-descending",
    ),
    pytest.param(
        M + "search:\n  budgets: [0.5, 0.5]\n",
        6,
        "search.budgets",
        "not strictly ascending",
        id="budgets-equal",
    ),
    pytest.param(
        M + "search:\n  budgets: [0.5, 2]\n", 6, "search.budgets.1", "0 < value <= 1", id="budget-above-1"
    ),
    # names and seeds
    pytest.param(
        "name: ../x\ntask: sst2\nteacher:\n  model: m\n", 1, "name", "not a safe name", id="name-dotdot"
    ),
    pytest.param(
        "name: my run\ntask: sst2\nteacher:\n  model: m\n", 1, "name", "not a safe name", id="name-space"
    ),
    pytest.param(
        "name: '1abc'\ntask: sst2\nteacher:\n  model: m\n",
        1,
        "name",
        "starting with a letter",
        id="name-digit",
    ),
    pytest.param(M + "seed: '42'\n", 5, "seed", "not an integer", id="seed-str"),
    pytest.param(M + "seed: 42.0\n", 5, "seed", "not an integer", id="seed-float"),
    pytest.param(M + "seed: true\n", 5, "seed", "not an integer", id="seed-bool"),
    pytest.param(M + "seed: -1\n", 5, "seed", "from 0 to 2**32 - 1", id="seed-negative"),
    pytest.param(M + "seed: 4294967296\n", 5, "seed", "out of range", id="seed-too-large"),
    pytest.param(M + "search:\n  seed: -3\n", 6, "search.seed", "out of range", id="search-seed-negative"),
    # missing required fields: the line of the parent mapping (1 for top level)
    pytest.param("name: t\ntask: sst2\n", 1, "teacher", "add `teacher:` with `model:`", id="missing-teacher"),
    pytest.param(
        "name: t\ntask: sst2\nteacher:\n  finetuned: true\n",
        3,
        "teacher.model",
        "missing required key",
        id="missing-teacher-model",
    ),
    pytest.param(M + "data:\n  source: glue\n", 5, "data", "give data.path", id="local-source-without-path"),
    # YAML-level problems
    pytest.param(M + "name: u\n", 5, "name", "duplicate key 'name' (first at line 1)", id="dup-top"),
    pytest.param(
        M + "search:\n  num_trials: 5\n  sampler: tpe\n  num_trials: 6\n",
        8,
        "search.num_trials",
        "(first at line 6)",
        id="dup-nested",
    ),
    pytest.param("", 1, "(file)", "file is empty", id="empty"),
    pytest.param("# just a comment\n\n", 1, "(file)", "file is empty", id="only-comments"),
    pytest.param("name: t\ntask: sst2\n  teacher: x\n", 3, "(file)", "YAML syntax error", id="syntax"),
    pytest.param("name: t\n\tteacher: x\n", 2, "(file)", "indent with spaces, not tabs", id="tab"),
    pytest.param("- name: t\n- task: sst2\n", 1, "(file)", "the top level is a list", id="top-list"),
    pytest.param("just words\n", 1, "(file)", "the top level is a single value", id="top-scalar"),
    pytest.param(
        b"name: t\ntask: sst2\nteacher:\n  model: caf\xe9\n",
        4,
        "(file)",
        "byte 0xe9 at offset 40",
        id="latin1",
    ),
    pytest.param(M + "x: !!python/object:os.system {}\n", 5, "x", "YAML tag", id="unsafe-tag-mapping"),
    pytest.param(
        M + "seed: !!python/name:os.system ''\n",
        5,
        "seed",
        "could not determine a constructor",
        id="unsafe-tag-scalar",
    ),
    # cross-field rules
    pytest.param(
        "name: t\ntask: sst3\nteacher:\n  model: m\n", 2, "task", "did you mean 'sst2'?", id="unknown-task"
    ),
    pytest.param(
        "name: t\ntask: rte\nteacher:\n  model: m\ndata:\n  source: csv\n  path: x.csv\n  columns:\n"
        "    text_a: sentence\n    label: label\n",
        8,
        "data.columns.text_b",
        "needs sentence pairs",
        id="pair-task-single-csv",
    ),
    pytest.param(
        "name: t\ntask: cola\nteacher:\n  model: m\ndata:\n  path: /nowhere\n  columns: {text_a: s}\n",
        7,
        "data.columns",
        "header-less TSV rows",
        id="headerless-task-with-columns",
    ),
    pytest.param(
        M + "data:\n  source: squad\n  path: x.json\n",
        6,
        "data.source",
        "do not fit task 'sst2'",
        id="squad-for-sst2",
    ),
    pytest.param(
        "name: t\ntask: squad\nteacher:\n  model: m\ndata:\n  source: glue\n  path: d\n  doc_stride: 32\n",
        6,
        "data.source",
        "allowed for this task: auto, hub, squad",
        id="glue-for-squad",
    ),
    pytest.param(
        "name: t\ntask: squad\nteacher:\n  model: m\ndata:\n  max_seq_length: 128\n",
        5,
        "data.doc_stride",
        "give doc_stride < 61",
        id="squad-stride-too-big",
    ),
    pytest.param(
        M + "search:\n  space: length\n",
        6,
        "search.space",
        "supernet.length.enabled: true",
        id="length-space",
    ),
    pytest.param(
        M + "search:\n  space: joint\n",
        6,
        "search.space",
        "'joint' searches tokens kept per layer, which needs a length-adaptive supernet",
        id="joint-space",
    ),
    pytest.param(
        M + "supernet:\n  method: lengthdrop\n",
        6,
        "supernet.method",
        "set supernet.length.enabled: true",
        id="lengthdrop-without-length",
    ),
    pytest.param(
        M + "supernet:\n  method: pkd\n  length:\n    enabled: true\n",
        6,
        "supernet.method",
        "does not train token lengths",
        id="length-with-another-method",
    ),
    pytest.param(
        M + "search:\n  space: widthdepth\n",
        6,
        "search.space",
        "did you mean 'width_depth'?",
        id="unknown-space",
    ),
    pytest.param(
        M + "supernet:\n  enabled: false\n",
        6,
        "search.enabled",
        "supernet.enabled is false",
        id="search-no-supernet",
    ),
    pytest.param(
        M + "search:\n  enabled: false\n",
        6,
        "export.enabled",
        "search.enabled is false",
        id="export-no-search",
    ),
    pytest.param(
        M + "resources:\n  num_workers: 0\n  use_gpu: true\n",
        7,
        "resources.use_gpu",
        "num_workers >= 1",
        id="gpu-no-workers",
    ),
    pytest.param(
        "name: t\ntask: sst2\nteacher:\n  model: ./nope/model\n",
        4,
        "teacher.model",
        "does not exist",
        id="teacher-path",
    ),
    pytest.param(
        M + "resources:\n  storage_path: s3://bucket/runs\n",
        6,
        "resources.storage_path",
        "cloud storage is not supported",
        id="storage-uri",
    ),
    pytest.param(M + "resources:\n  max_failures: -1\n", 6, "resources.max_failures", ">= 0", id="train-retries"),
    pytest.param(M + "search:\n  max_failures: -1\n", 6, "search.max_failures", ">= 0", id="trial-retries"),
]


@pytest.mark.parametrize(("text", "line", "dotted", "hint"), CASES)
def test_bad_spec_problem_line(
    write, tmp_path, monkeypatch, text: str | bytes, line: int, dotted: str, hint: str
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths (teacher.model) resolve inside the sandbox
    path = write(text)
    spec, problems = check_spec(path)
    assert spec is None
    prefix = f"{path}:{line}: {dotted}: "
    hits = [p for p in problems if p.startswith(prefix)]
    assert hits, f"no problem starts with {prefix!r}; got {problems}"
    assert hint in hits[0]
    assert all("\n" not in p for p in problems)  # one line each


def test_load_spec_raises_with_every_problem(write) -> None:
    path = write(
        "name: bad name\n"  # 1
        "task: sst2\n"  # 2
        "teacher:\n"  # 3
        "  model: m\n"  # 4
        "  train:\n"  # 5
        "    batch_size: 0\n"  # 6
        "supernet:\n"  # 7
        "  widths: [0.5]\n"  # 8
        "search:\n"  # 9
        "  samplr: tpe\n"  # 10
        "seed: x\n"  # 11
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    prefixes = [p.split(": ", 2)[0] + ": " + p.split(": ", 2)[1] for p in info.value.problems]
    assert prefixes == [
        f"{path}:1: name",
        f"{path}:6: teacher.train.batch_size",
        f"{path}:8: supernet.widths",
        f"{path}:10: search.samplr",
        f"{path}:11: seed",
    ]  # every problem, in file order
    assert str(info.value) == "\n".join(info.value.problems)


def test_several_rule_problems_all_reported(write, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(
        "name: t\ntask: sst2\nteacher:\n  model: ../missing\n"  # 1-4
        "search:\n  space: length\n"  # 5-6
        "resources:\n  num_workers: 0\n  use_gpu: true\n"  # 7-9
    )
    _, problems = check_spec(path)
    assert [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems] == [
        f"{path}:4: teacher.model",
        f"{path}:6: search.space",
        f"{path}:9: resources.use_gpu",
    ]
