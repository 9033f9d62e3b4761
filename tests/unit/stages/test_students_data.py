"""Students on augmented data and TinyBERT general distillation: the spec fields are checked by name, the
students stage needs `augment` (only the entries that read augmented data retrain when it changes), each phase
reads the data it should, gold labels on augmented copies are flagged, and a pipeline run shows it all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import raydistill.stages  # noqa: F401  the students checks join the spec rules
from raydistill.data import prepare_task_data
from raydistill.data.augment import write_augmented
from raydistill.data.examples import Example
from raydistill.data.splits import load_splits
from raydistill.data.tasks import get_task
from raydistill.layout import RunLayout
from raydistill.models.loading import load_tokenizer
from raydistill.spec import Spec
from raydistill.spec.rules import check_rules
from raydistill.stages import StageRun
from raydistill.stages.student_checks import uses_gold_labels
from raydistill.stages.students import GOLD_ON_AUGMENTED, _data_digest, entry_key
from raydistill.training.students import phases_of, student_data
from tests.unit.stages.conftest import layout_of, make_spec, plan_of, record_plan
from tests.unit.training.conftest import write_sst2

GLOVE = Path(__file__)  # any existing file passes the spec check; nothing here reads it
AUG = {"augment.enabled": True, "augment.glove_path": str(GLOVE)}
FT = {"name": "ft", "method": "finetune", "shape": {"layers": 1}, "train_data": "augmented"}
TB = {"name": "tb", "method": "tinybert", "shape": {"layers": 3}, "init": "every_kth"}


@pytest.fixture
def sst2_dir(tmp_path: Path) -> Path:
    return write_sst2(tmp_path / "data")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("a first line of text\nand a second one\n")
    return path


def _general(corpus: Path, **train: Any) -> dict[str, Any]:
    return {"corpus": str(corpus), "train": {"max_steps": 5, **train}}


def _problems(tmp_path: Path, *students: dict[str, Any], **changes: Any) -> dict[str, str]:
    spec = make_spec(tmp_path, students=list(students), **changes)
    return {p.path: p.message for p in check_rules(spec)}


def test_augmented_data_without_the_augment_stage_names_the_field(tmp_path: Path) -> None:
    problems = _problems(tmp_path, FT)
    assert "augment.enabled is false" in problems["students.0.train_data"]
    assert _problems(tmp_path, FT, **AUG) == {}


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        ({**FT, "train_data": "task"}, "students.0.general", "method 'finetune' has none"),
        (TB, "students.0.general.train.max_steps", "is not set"),
        (TB, "students.0.general.corpus", "is not a file"),
    ],
)
def test_a_bad_general_section_is_named(
    tmp_path: Path, corpus: Path, entry: dict, path: str, words: str
) -> None:
    general = _general(corpus)
    if path.endswith("max_steps"):
        general["train"] = {}
    elif path.endswith("corpus"):
        general["corpus"] = str(corpus.with_name("missing.txt"))
    problems = _problems(tmp_path, {**entry, "general": general})
    assert path in problems and words in problems[path], problems
    assert _problems(tmp_path, {**TB, "general": _general(corpus)}) == {}


@pytest.mark.parametrize(
    ("entry", "gold"),
    [
        (FT, True),
        ({**FT, "method": "kd"}, False),  # alpha 1: the teacher's outputs only
        ({**FT, "method": "kd", "options": {"alpha": 0.5}}, True),
        ({**FT, "method": "pkd", "shape": {"layers": 3}}, True),  # alpha 0.7 (the authors' preset)
        ({**FT, "method": "pkd", "shape": {"layers": 3}, "options": {"alpha": 1}}, False),
        ({**TB, "train_data": "augmented"}, False),
    ],
)
def test_which_methods_learn_from_gold_labels(tmp_path: Path, entry: dict, gold: bool) -> None:
    spec = make_spec(tmp_path, students=[entry], **AUG)
    assert uses_gold_labels(spec.students[0], "classification") is gold


def test_the_students_stage_needs_augment_and_only_augmented_entries_rekey(tmp_path: Path) -> None:
    plain = {"name": "kd", "method": "kd", "shape": {"layers": 1}}
    spec = make_spec(tmp_path, students=[plain, FT], **AUG)
    record_plan(spec, plan_of(spec))
    changed = make_spec(tmp_path, students=[plain, FT], **AUG, **{"augment.p": 0.3})
    assert "students runs (needs augment)" in plan_of(changed).text()
    planned = {p.name: p for p in plan_of(changed).stages}["students"]
    assert planned.reason == "needs augment"
    before = {p.name: p for p in plan_of(spec).stages}["students"]
    assert planned.run_key == before.run_key  # augment's key is not in the stage's run key ...
    layout = layout_of(spec)
    ctx = StageRun(changed, layout, planned.key, planned.run_key)
    layout.augmented_train.parent.mkdir(parents=True, exist_ok=True)
    layout.augmented_train.write_text('{"sentence": "a", "label": 1, "guid": "t-1", "source": "t-1"}\n')
    keys = {e.name: entry_key(ctx, e, "", _data_digest(ctx, e, "")) for e in changed.students}
    layout.augmented_train.write_text('{"sentence": "b", "label": 1, "guid": "t-1", "source": "t-1"}\n')
    again = {e.name: entry_key(ctx, e, "", _data_digest(ctx, e, "")) for e in changed.students}
    assert again["kd"] == keys["kd"] and again["ft"] != keys["ft"]  # ... the augmented file's content is
    off = {p.name: p for p in plan_of(make_spec(tmp_path, students=[plain])).stages}
    assert off["augment"].status == "skipped" and "augment" not in off["students"].inputs["needs"]


def test_a_changed_corpus_reruns_the_students(tmp_path: Path, corpus: Path) -> None:
    spec = make_spec(tmp_path, students=[{**TB, "general": _general(corpus)}])
    record_plan(spec, plan_of(spec))
    corpus.write_text("other text\n")
    planned = {p.name: p for p in plan_of(spec).stages}["students"]
    assert planned.status == "run" and "general.corpus changed" in planned.reason


def test_each_phase_reads_its_data(tmp_path: Path, corpus: Path) -> None:
    spec = make_spec(
        tmp_path, students=[{**TB, "train_data": "augmented", "general": _general(corpus)}], **AUG
    )
    layout, entry = layout_of(spec), spec.students[0]
    phases = phases_of(entry, layout)
    assert [p.name for p in phases] == ["general", "intermediate", "prediction"]
    assert phases[0].method == "tinybert_general" and phases[0].out == layout.student_phase("tb", "general")
    assert phases[1].start == phases[0].out and phases[0].start == layout.student_init("tb")
    general = student_data(spec, layout, entry, phases[0])
    assert general == {"corpus": str(corpus.resolve()), "max_seq_length": 64}
    for phase in phases[1:]:
        assert student_data(spec, layout, entry, phase)["augmented_train"] == str(
            layout.augmented_train.resolve()
        )
    plain = make_spec(tmp_path, students=[TB]).students[0]
    assert [p.name for p in phases_of(plain, layout)] == ["intermediate", "prediction"]
    assert "augmented_train" not in student_data(spec, layout, plain, phases_of(plain, layout)[0])


def test_augmented_examples_replace_train_only(tmp_path: Path, sst2_dir: Path, tiny_model_dir: Path) -> None:
    task = get_task("sst2")
    splits = load_splits(task, path=str(sst2_dir), search_fraction=0.25)
    copies = [Example(f"{ex.guid}-aug0", "movie " + ex.text_a, None, ex.label) for ex in splits.train[:3]]
    path = tmp_path / "augmented.jsonl"
    write_augmented(path, iter([(ex, [c]) for ex, c in zip(splits.train[:3], copies, strict=True)]), task)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    plain = prepare_task_data("sst2", tokenizer, path=str(sst2_dir), search_fraction=0.25)
    augmented = prepare_task_data("sst2", tokenizer, path=str(sst2_dir), search_fraction=0.25,
                                  augmented_train=str(path))  # fmt: skip
    assert len(augmented.train) == 6 and len(plain.train) == len(splits.train)
    assert augmented.search.examples == plain.search.examples
    assert augmented.dev["dev"].examples == plain.dev["dev"].examples


def test_a_run_on_augmented_data_flags_gold_labels(
    tmp_path: Path, sst2_dir: Path, tiny_model_dir: Path, corpus: Path
) -> None:
    from raydistill.pipeline import run_pipeline
    from raydistill.results.points import read_points

    fast = {"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "num_threads": 1}
    glove = tmp_path / "glove.txt"
    glove.write_text("movie 1 0\nfilm 0.9 0.1\n")
    spec = Spec.model_validate({
        "name": "da", "task": "sst2", "data": {"path": str(sst2_dir), "max_seq_length": 32},
        "teacher": {"model": str(tiny_model_dir), "train": fast},
        "supernet": {"enabled": False}, "search": {"enabled": False}, "export": {"enabled": False},
        "augment": {"enabled": True, "copies": 2, "mlm_steps": 2, "glove_path": str(glove)},
        "students": [
            {"name": "ft", "method": "finetune", "shape": {"layers": 1, "ffn": 32}, "train_data": "augmented",
             "train": fast},
            {"name": "tb", "method": "tinybert", "shape": {"layers": 1, "hidden": 16, "ffn": 32},
             "train_data": "augmented", "train": fast, "general": _general(corpus, **fast)},
        ],
        "resources": {"num_workers": 0, "storage_path": str(tmp_path / "runs")},
    })  # fmt: skip
    assert check_rules(spec) == []
    lines: list[str] = []
    run_pipeline(spec, echo=lines.append)
    assert lines[0] == "plan: augment, teacher, students, report run (no record)", lines
    layout = RunLayout(tmp_path / "runs" / "da")
    records = json.loads(layout.students_file.read_text())
    assert records["ft"]["gold_labels_on_augmented"] and not records["tb"]["gold_labels_on_augmented"]
    assert records["tb"]["phases"] == ["general", "intermediate", "prediction"]
    assert (layout.student_phase("tb", "general") / "config.json").is_file()
    notes = read_points(layout).set_index("label")["note"]
    assert GOLD_ON_AUGMENTED in notes["student ft"] and GOLD_ON_AUGMENTED not in notes["student tb"]
    assert "general, intermediate, then prediction" in notes["student tb"]
    md = (tmp_path / "reports" / "da" / "summary.md").read_text(encoding="utf-8")
    assert GOLD_ON_AUGMENTED in md
