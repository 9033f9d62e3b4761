"""Stage `augment`: planned only when on, cached on the rerun, rerun by its own inputs alone; it augments the
training examples left after the search split is carved and never a search or dev example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raydistill.data.splits import load_splits
from raydistill.data.tasks import get_task
from raydistill.layout import RunLayout
from raydistill.stages import StageRun
from raydistill.stages.augment import augmented_train_path, read_augmented_train
from raydistill.stages.augment import run as run_augment
from tests.unit.data.conftest import sst2_dir, write  # noqa: F401  fixtures
from tests.unit.stages.conftest import layout_of, make_spec, plan_of, record_plan

GLOVE = "movies 1 0.1 0\nfilms 0.9 0.2 0\nplots 0.7 0 0.3\nactors 0 1 0.1\n"


@pytest.fixture
def glove(tmp_path: Path) -> Path:
    path = tmp_path / "glove.txt"
    path.write_text(GLOVE)
    return path


def test_off_by_default_and_planned_when_on(tmp_path: Path, recorded, glove: Path) -> None:
    assert {p.name: p.status for p in plan_of(recorded).stages}["augment"] == "skipped"
    assert "augment" not in plan_of(recorded).text()
    spec = make_spec(tmp_path, **{"augment.enabled": True, "augment.glove_path": str(glove)})
    assert plan_of(spec).text() == (
        "plan: augment runs (no record); teacher, supernet, search, picks, retrain, export cached; "
        "report runs (needs augment)"
    )
    record_plan(spec, plan_of(spec))
    assert plan_of(spec).text() == "plan: augment, teacher, supernet, search, picks, retrain, export, report cached"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"augment.p": 0.2}, "augment.p changed"),
        ({"augment.copies": 3}, "augment.copies changed"),
        ({"data.max_train_examples": 8}, "data.max_train_examples changed"),
        ({"data.search_split": 0.2}, "data.search_split changed"),  # another split: other training examples
        ({"teacher.model": "bert-base-uncased"}, "teacher.model changed"),
        ({"augment.batch_size": 8}, None),  # does not change what is written
        ({"data.max_eval_examples": 4}, None),  # caps search and dev only, after the carving
        ({"teacher.train.epochs": 1.0}, None),  # the MLM is the teacher's checkpoint, not the trained teacher
    ],
)
def test_reruns_only_on_its_own_inputs(tmp_path: Path, glove: Path, change: dict, reason: str | None) -> None:
    on = {"augment.enabled": True, "augment.glove_path": str(glove)}
    spec = make_spec(tmp_path, **on)
    record_plan(spec, plan_of(spec))
    planned = {p.name: p for p in plan_of(make_spec(tmp_path, **on, **change)).stages}
    assert (planned["augment"].status, planned["augment"].reason) == (
        ("cached", "") if reason is None else ("run", reason)
    )


def test_a_changed_glove_file_reruns_it(tmp_path: Path, glove: Path) -> None:
    spec = make_spec(tmp_path, **{"augment.enabled": True, "augment.glove_path": str(glove)})
    record_plan(spec, plan_of(spec))
    glove.write_text(GLOVE + "rivers 0 0.1 1\n")
    assert "augment runs (augment.glove_path changed)" in plan_of(spec).text()


def test_augments_train_only_never_the_search_or_dev_split(
    tmp_path: Path, sst2_dir: Path, tiny_model_dir: Path, glove: Path  # noqa: F811
) -> None:
    spec = make_spec(
        tmp_path, str(sst2_dir), **{"teacher.model": str(tiny_model_dir), "data.search_split": 0.25,
        "augment.enabled": True, "augment.glove_path": str(glove), "augment.copies": 4, "augment.p": 0.6,
        "augment.mlm_steps": 3},
    )  # fmt: skip
    layout = layout_of(spec)
    summary = run_augment(StageRun(spec, layout, "key", "run-key"))
    splits = load_splits(get_task("sst2"), path=str(sst2_dir), search_fraction=0.25, seed=spec.seed)
    rows = read_augmented_train(layout, "sst2")
    assert augmented_train_path(layout) == RunLayout(layout.root).augmented_train
    originals = [ex for ex in rows if "-aug" not in ex.guid]
    assert originals == splits.train and len(splits.search) == 5
    copies = [ex for ex in rows if "-aug" in ex.guid]
    assert copies and summary["augmented"] == len(copies) and summary["examples"] == len(splits.train)
    sources = {ex.guid.rsplit("-aug", 1)[0] for ex in copies}
    held = {ex.guid for ex in splits.search}
    assert sources <= {ex.guid for ex in splits.train} and not sources & held
    texts = {ex.text_a for ex in rows}
    assert not texts & {ex.text_a for ex in splits.search + splits.dev["dev"]}
    head = json.loads(layout.mlm_head_meta.read_text())
    assert not head["own_head"] and head["steps"] == 3 and layout.mlm_head_weights.is_file()
    assert 0 <= head["accuracy"]["top1"] <= 1 and "masked-token accuracy" in summary["headline"]
