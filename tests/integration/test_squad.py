"""SQuAD end to end through the real CLI and local Ray, on `searches/squad_length.yaml` with a tiny teacher and a
tiny generated SQuAD file split by article as the spec splits the official dev file: a QA teacher, a LengthDrop
supernet with drop-and-restore, the length search scored by F1 on the search articles, picks that drop tokens,
their HF export (loaded by plain transformers with trust_remote_code) and a report with EM and F1 that names the
articles each number was scored on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.results.points import read_points
from tests.integration.test_quickstart import REPO, _cli
from tests.unit.data.conftest import CONTEXT, squad_json

pytestmark = pytest.mark.integration

QUESTIONS = [("what is the capital ?", "paris"), ("what is red ?", "red"), ("what was good ?", "the movie"),
             ("what is blue ?", "blue")]  # fmt: skip


def _squad_file(folder: Path) -> Path:
    """A SQuAD-format `dev-v1.1.json`: 8 articles x 4 questions over the tiny vocabulary."""
    articles = [
        (f"article {k}", CONTEXT, [(f"a{k}q{j}", q, a) for j, (q, a) in enumerate(QUESTIONS)])
        for k in range(8)
    ]
    folder.mkdir(parents=True)
    (folder / "dev-v1.1.json").write_text(squad_json(articles))
    return folder


def _overrides(tmp_path: Path, model_dir: Path) -> list[str]:
    values = [
        f"teacher.model={model_dir}", f"data.path={_squad_file(tmp_path / 'squad_v1.1')}",
        "data.train_file=dev-v1.1.json[0:6]", "data.dev_file=dev-v1.1.json[6:8]", "data.max_train_examples=null",
        "data.max_seq_length=32", "data.doc_stride=8", "data.max_query_length=12", "data.search_split=0.2",
        f"resources.storage_path={tmp_path / 'runs'}", "resources.cpus_per_worker=1",
        "teacher.train.epochs=2", "teacher.train.batch_size=8", "teacher.train.learning_rate=5e-3",
        "supernet.train.epochs=1", "supernet.train.batch_size=16", "supernet.train.learning_rate=2e-3",
        "supernet.importance_examples=16", "search.num_trials=6", "search.population_size=4",
        "search.budgets=[0.9]", "search.max_search_examples=null", "export.formats=[hf]",
    ]  # fmt: skip
    return [arg for v in values for arg in ("--set", v)]


def test_squad_length_search_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = str(REPO / "searches" / "squad_length.yaml")
    done = _cli("run", spec, *_overrides(tmp_path, tiny_model_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    run = RunLayout(tmp_path / "runs" / "squad-length")
    teacher = json.loads(run.teacher_metrics.read_text())
    assert teacher["main_metric"] == "f1" and set(teacher["dev"]["dev"]) == {"exact_match", "f1"}
    assert json.loads(run.supernet_metrics.read_text())["method"] == "lengthdrop"
    trials = pd.read_parquet(run.trials_parquet)
    assert any(Arch.from_json(j).tokens is not None for j in trials["arch_json"])  # the search dropped tokens
    assert trials["metric_name"].eq("f1").all()

    points = read_points(run)
    dev = "SQuAD v1.1 dev articles 6-7 (8 questions)"
    assert (points["dev_split"] == dev).all(), points["dev_split"].tolist()
    assert points["search_split"].str.startswith("SQuAD v1.1 dev articles ").all()
    assert points["search_split"].str.contains(r"carved by article from SQuAD v1\.1 dev articles 0-5").all()
    picks = points[points["kind"] == "pick"]
    assert len(picks) == 1 and Arch.from_json(picks["arch_json"].iloc[0]).tokens is not None
    for row in (points[points["kind"] == "teacher"].iloc[0], picks.iloc[0]):
        scores = json.loads(row["dev_scores"])
        assert set(scores) == {"exact_match", "f1"} and scores["f1"] == row["dev_metric"]

    from transformers import AutoModelForQuestionAnswering

    export = Path(picks["export_dir"].iloc[0])
    model = AutoModelForQuestionAnswering.from_pretrained(
        export if export.is_absolute() else tmp_path / export, trust_remote_code=True
    ).eval()
    ids = torch.tensor([[2, 35, 8, 47, 3, 52, 53, 54, 44, 8, 46, 26, 45, 67, 3]])  # (1, 15)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert out.start_logits.shape == out.end_logits.shape == (1, 15)  # dropped tokens restored: one per input

    md = (tmp_path / "reports" / "squad-length" / "summary.md").read_text(encoding="utf-8")
    assert f"- **dev metrics scored on**: {dev}" in md and "search metrics scored on" in md
    assert "exact_match" in md and "dev f1" in md
