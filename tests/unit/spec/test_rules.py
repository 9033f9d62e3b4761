"""Cross-field rules that look at the task registry and at local data files (header line only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.spec import check_spec, inspect_spec, load_spec
from raydistill.spec import rules as rules_module
from raydistill.spec.problems import Problem


def spec_text(task: str, data: str = "", teacher: str = "bert-base-uncased") -> str:
    """Lines 1-4: name, task, teacher; `data:` (if any) starts at line 5."""
    return f"name: t\ntask: {task}\nteacher:\n  model: {teacher}\n" + (f"data:\n{data}" if data else "")


def make_file(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def problems_for(write, text: str, overrides: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    path = write(text)
    return path, check_spec(path, list(overrides))[1]


def test_glue_dir_without_pair_columns(write, tmp_path: Path) -> None:
    make_file(tmp_path, "sst/train.tsv", "sentence\tlabel\ngood movie\t1\n")
    make_file(tmp_path, "sst/dev.tsv", "sentence\tlabel\ngood movie\t1\n")
    path, problems = problems_for(write, spec_text("rte", f"  path: {tmp_path / 'sst'}\n"))
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:6: data.path: train file ")
    assert "'sentence1' (text_a), 'sentence2' (text_b)" in problems[0] and "RTE" in problems[0]


def test_glue_dir_with_pair_columns_and_glue_root(write, tmp_path: Path) -> None:
    make_file(tmp_path, "glue/RTE/train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    make_file(tmp_path, "glue/RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    assert load_spec(write(spec_text("rte", f"  path: {tmp_path / 'glue' / 'RTE'}\n"))).task == "rte"
    assert (
        load_spec(write(spec_text("rte", f"  path: {tmp_path / 'glue'}\n"))).task == "rte"
    )  # root + task dir


def test_mrpc_header_with_bom(write, tmp_path: Path) -> None:
    make_file(
        tmp_path,
        "MRPC/train.tsv",
        b"\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n1\t1\t2\ta\tb\r\n",
    )
    make_file(tmp_path, "MRPC/dev.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\ta\tb\n")
    assert load_spec(write(spec_text("mrpc", f"  path: {tmp_path / 'MRPC'}\n"))).task == "mrpc"


def test_explicit_column_missing_points_at_the_mapping(write, tmp_path: Path) -> None:
    make_file(tmp_path, "rte/train.tsv", "index\tsentence1\tsentence2\tlabel\n")
    make_file(tmp_path, "rte/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    data = f"  path: {tmp_path / 'rte'}\n  columns:\n    text_a: premise\n"
    path, problems = problems_for(write, spec_text("rte", data))
    assert [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems] == [
        f"{path}:8: data.columns.text_a"
    ]
    assert "'premise' (text_a)" in problems[0]


def test_header_less_cola_checks_the_field_count(write, tmp_path: Path) -> None:
    make_file(tmp_path, "CoLA/train.tsv", "gj04\t1\t\tA sentence.\n")
    make_file(tmp_path, "CoLA/dev.tsv", "gj04\t0\t*\tSentence a.\n")
    make_file(tmp_path, "bad/train.tsv", "sentence\tlabel\n")
    assert load_spec(write(spec_text("cola", f"  path: {tmp_path / 'CoLA'}\n"))).task == "cola"
    path, problems = problems_for(write, spec_text("cola", f"  path: {tmp_path / 'bad'}\n"))
    assert problems[0].startswith(f"{path}:6: data.path: ") and "exactly 4 fields" in problems[0]


def test_csv_and_jsonl_headers(write, tmp_path: Path) -> None:
    csv_file = make_file(tmp_path, "d.csv", 'premise,"hypothesis, text",y\n')
    make_file(tmp_path, "dev.csv", 'premise,"hypothesis, text",label\na,"b, c",entailment\n')
    make_file(tmp_path, "dev.jsonl", '{"text": "y", "y": 0}\n')
    data = f"  source: csv\n  path: {csv_file}\n  columns: {{text_a: premise, text_b: 'hypothesis, text', label: label}}\n"
    path, problems = problems_for(write, spec_text("rte", data))
    assert len(problems) == 1 and problems[0].startswith(f"{path}:8: data.columns.label: ")  # quoted comma ok
    jsonl = make_file(tmp_path, "d.jsonl", '{"text": "x", "y": 1}\n')
    data = f"  source: jsonl\n  path: {jsonl}\n  columns: {{text_a: text, label: y}}\n"
    assert load_spec(write(spec_text("sst2", data))).data.source == "jsonl"
    broken = make_file(tmp_path, "e.jsonl", "[1, 2]\n")
    _, problems = problems_for(write, spec_text("sst2", data.replace(str(jsonl), str(broken))))
    assert "expected a JSON object" in problems[0]


def test_csv_without_mapping_reads_the_hub_column_names(write, tmp_path: Path) -> None:
    good = make_file(tmp_path, "good.csv", "sentence,label\nfun,1\n")
    make_file(tmp_path, "dev.csv", "sentence,label\ndull,0\n")
    assert load_spec(write(spec_text("sst2", f"  source: csv\n  path: {good}\n"))).data.source == "csv"
    other = make_file(tmp_path, "other.csv", "text,label\nfun,1\n")
    path, problems = problems_for(write, spec_text("sst2", f"  source: csv\n  path: {other}\n"))
    assert problems[0].startswith(f"{path}:7: data.path: train file ")
    assert "'sentence' (text_a); point data.path at the SST-2 files, or map data.columns" in problems[0]


def test_pair_mapping_is_judged_by_the_header_when_the_file_exists(write, tmp_path: Path) -> None:
    pairs = make_file(tmp_path, "p.csv", "s1,sentence2,y\na,b,entailment\n")
    make_file(tmp_path, "dev.csv", "s1,sentence2,y\nc,d,not_entailment\n")
    data = f"  source: csv\n  path: {pairs}\n  columns: {{text_a: s1, label: y}}\n"
    assert load_spec(write(spec_text("rte", data))).task == "rte"  # text_b keeps its default, which exists
    single = make_file(tmp_path, "s.csv", "s1,y\n")
    path, problems = problems_for(write, spec_text("rte", data.replace(str(pairs), str(single))))
    assert problems[0].startswith(f"{path}:7: data.path: ") and "'sentence2' (text_b)" in problems[0]


def test_missing_train_file_lists_the_dir(write, tmp_path: Path) -> None:
    make_file(tmp_path, "QNLI/dev.tsv", "index\tquestion\tsentence\tlabel\n0\tq?\ta.\tentailment\n")
    path, problems = problems_for(write, spec_text("qnli", f"  path: {tmp_path / 'QNLI'}\n"))
    assert (
        problems[0].startswith(f"{path}:6: data.path: no train file ")
        and "files there: dev.tsv" in problems[0]
    )
    _, problems = problems_for(
        write, spec_text("qnli", f"  path: {tmp_path / 'QNLI'}\n  train_file: tr.tsv\n")
    )
    assert problems[0].startswith(f"{path}:7: data.train_file: no train file ")


def test_squad_train_file_may_be_an_article_slice(write, tmp_path: Path) -> None:
    question = '{"id": "q1", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]}'
    make_file(
        tmp_path,
        "squad/dev-v1.1.json",
        f'{{"data": [{{"title": "t", "paragraphs": [{{"context": "Ann ran.", "qas": [{question}]}}]}}]}}',
    )
    data = f"  path: {tmp_path / 'squad'}\n  max_seq_length: 384\n"
    path, problems = problems_for(write, spec_text("squad", data))
    assert problems[0].startswith(f"{path}:6: data.path: no train file ") and "train-v1.1.json" in problems[0]
    assert load_spec(write(spec_text("squad", data + "  train_file: dev-v1.1.json[0:38]\n"))).task == "squad"


SST2_ROWS = "sentence\tlabel\ngood movie\t1\ndull\t0\n"
CLUSTER = "resources:\n  address: ray://somewhere:10001\n"


def _sst2_dir(tmp_path: Path, train: str | None = SST2_ROWS, dev: str | None = SST2_ROWS) -> Path:
    for name, text in (("train.tsv", train), ("dev.tsv", dev)):
        if text is not None:
            make_file(tmp_path, f"sst/{name}", text)
    return tmp_path / "sst"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing path", "'{root}' does not exist (relative paths start at "),
        (
            "missing dev",
            "no dev file '{root}/dev.tsv' (eval set 'dev' of task 'sst2'); files there: train.tsv",
        ),
        ("header only", "{root}/train.tsv: no examples (only a header or blank lines); expected one example"),
        (
            "unknown label",
            "{root}/train.tsv:4: unknown label 'neutral' in column 'label' for task sst2; allowed:",
        ),
    ],
)
def test_local_data_is_checked_whole(write, tmp_path: Path, case: str, expected: str) -> None:
    files = {
        "missing path": {"train": None, "dev": None},
        "missing dev": {"dev": None},
        "header only": {"train": "sentence\tlabel\n"},
        "unknown label": {"train": SST2_ROWS + "so-so\tneutral\n"},
    }[case]
    root = _sst2_dir(tmp_path, **files)
    text = spec_text("sst2", f"  path: {root}\n")
    path, problems = problems_for(write, text)
    assert len(problems) == 1 and problems[0].startswith(f"{path}:6: data.path: {expected.format(root=root)}")
    # on a cluster the nodes read their own copy: the same finding is a warning, and the spec is valid
    found = inspect_spec(write(text + CLUSTER))
    assert found.spec is not None and found.problems == [] and len(found.warnings) == 1
    assert found.warnings[0].startswith(f"{path}:6: data.path: warning: {expected.format(root=root)}")
    assert found.warnings[0].endswith("resources.address 'ray://somewhere:10001' read their own copy)")
    warned: list[str] = []
    assert load_spec(path, warn=warned.append).resources.address == "ray://somewhere:10001"
    assert warned == found.warnings


def test_a_complete_local_dir_is_valid_and_local_is_no_cluster(write, tmp_path: Path) -> None:
    assert (
        load_spec(write(spec_text("sst2", f"  path: {_sst2_dir(tmp_path)}\n")), warn=pytest.fail).task
        == "sst2"
    )
    _, problems = problems_for(
        write, spec_text("sst2", "  path: not-here\n") + "resources:\n  address: local\n"
    )
    assert len(problems) == 1 and "data.path: 'not-here' does not exist" in problems[0]


def test_unknown_builtin_data_set(write) -> None:
    path, problems = problems_for(write, spec_text("sst2", "  path: builtin:no_such_set\n"))
    assert problems[0].startswith(f"{path}:6: data.path: no built-in data set 'no_such_set'")


@pytest.mark.parametrize(
    ("task", "source", "ok"),
    [
        ("sst2", "glue", True),
        ("sst2", "csv", True),
        ("sst2", "chnsenticorp", False),
        ("sst2", "squad", False),
        ("chnsenticorp", "chnsenticorp", True),
        ("chnsenticorp", "glue", False),
        ("squad", "squad", True),
        ("squad", "glue", False),
        ("squad", "jsonl", False),
        ("mnli", "hub", True),
    ],
)
def test_source_fits_task(write, task: str, source: str, ok: bool) -> None:
    data = f"  source: {source}\n" + ("" if source == "hub" else "  path: /not/on/this/machine\n")
    if source in ("csv", "jsonl"):
        data += "  columns: {text_a: a, label: y}\n"
    if task == "squad":
        data += "  max_seq_length: 384\n"
    path, problems = problems_for(write, spec_text(task, data))
    source_problems = [p for p in problems if p.startswith(f"{path}:6: data.source: ")]
    assert (not source_problems) == ok, problems


def test_single_sentence_task_with_text_b(write) -> None:
    data = "  source: csv\n  path: /x.csv\n  columns: {text_a: a, text_b: b, label: y}\n"
    path, problems = problems_for(write, spec_text("sst2", data))
    assert [p for p in problems if ": data.columns" in p] == [
        f"{path}:8: data.columns.text_b: task 'sst2' takes single sentences; drop text_b (map only text_a and label)"
    ]


def test_teacher_dir_needs_config_json(write, tmp_path: Path) -> None:
    (tmp_path / "teacher").mkdir()
    path, problems = problems_for(write, spec_text("sst2", teacher=str(tmp_path / "teacher")))
    assert problems[0].startswith(f"{path}:4: teacher.model: ") and "no config.json" in problems[0]
    make_file(tmp_path, "teacher/config.json", "{}")
    assert load_spec(write(spec_text("sst2", teacher=str(tmp_path / "teacher")))).teacher.model.endswith(
        "teacher"
    )


def test_rules_are_a_plain_extensible_list(write, monkeypatch) -> None:
    def no_tpe(spec, task):  # type: ignore[no-untyped-def]
        if spec.search.sampler == "tpe":
            yield Problem("search.sampler", "tpe is banned here; use nsga2")

    monkeypatch.setattr(rules_module, "RULES", [*rules_module.RULES, no_tpe])
    path, problems = problems_for(write, spec_text("sst2") + "search:\n  sampler: tpe\n")
    assert problems == [f"{path}:6: search.sampler: tpe is banned here; use nsga2"]


def test_layerwise_sampling_refuses_a_same_width_teacher(write) -> None:
    text = spec_text("sst2") + "supernet:\n  sampling: layerwise\n  teacher_mode: same_width\n"
    path, problems = problems_for(write, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:7: supernet.teacher_mode: same_width needs one width")
    assert problems_for(write, spec_text("sst2") + "supernet:\n  sampling: layerwise\n")[1] == []


def test_the_length_axis_is_accepted_for_the_supernet(write) -> None:
    """`supernet.length.enabled` validates (it runs method lengthdrop), with the default method or lengthdrop."""
    length = "supernet:\n  length:\n    enabled: true\n    length_drop_ratio_bound: 0.3\n"
    assert problems_for(write, spec_text("sst2") + length)[1] == []
    assert problems_for(write, spec_text("sst2") + length + "  method: lengthdrop\n")[1] == []
    squad = spec_text("squad", "  max_seq_length: 256\n")
    assert problems_for(write, squad + length + "search:\n  space: length\n")[1] == []


def test_augmentation_needs_a_glove_file_and_a_sentence_task(write, tmp_path: Path) -> None:
    glove = make_file(tmp_path, "glove.txt", "movies 1 0\n")
    path, problems = problems_for(write, spec_text("sst2") + "augment:\n  enabled: true\n")
    assert problems == [
        f"{path}:6: augment.glove_path: is required when augment.enabled (multi-piece words are replaced by GloVe "
        "neighbours); give a GloVe text file such as ../shared/data/glove/glove.6B.50d.top100k.txt"
    ]
    _, problems = problems_for(write, spec_text("sst2") + f"augment:\n  enabled: true\n  glove_path: {glove}\n")
    assert problems == []
    _, problems = problems_for(write, spec_text("sst2") + "augment:\n  enabled: true\n  glove_path: nope.txt\n")
    assert len(problems) == 1 and "augment.glove_path: 'nope.txt' is not a file" in problems[0]
    qa = spec_text("squad", "  max_seq_length: 384\n") + f"augment:\n  enabled: true\n  glove_path: {glove}\n"
    _, problems = problems_for(write, qa)
    assert len(problems) == 1 and "augment.enabled: task squad is extractive QA" in problems[0]
    _, problems = problems_for(write, spec_text("squad", "  max_seq_length: 384\n") + "augment:\n  p: 0.5\n")
    assert problems == []  # off: nothing is checked
