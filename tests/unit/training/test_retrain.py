"""Stage `retrain` in this process: slice the picked Archs, re-train them by KD, score them, export them (the
picks, retrain and export stages run on a finished search, in order, through the points table)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from raydistill.errors import ArchError
from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.models.export import materialise
from raydistill.models.flops import params
from raydistill.models.hf_subnet import SubnetBertForSequenceClassification
from raydistill.results import make_table, write_table
from raydistill.results.points import read_points
from raydistill.spec.schema import (
    DataSpec,
    ExportSpec,
    OptimSpec,
    ResourcesSpec,
    RetrainSpec,
    SearchSpec,
    Spec,
    SupernetSpec,
    TeacherSpec,
)
from raydistill.stages import StageRun, export, picks, retrain, stage_graph
from raydistill.training.trainer import ray_storage

from .conftest import manual_accuracy

SMALL = Arch((1,), (2,), (32,))  # best within 0.5
MEDIUM = Arch((0, 1), (2, 2), (32, 32))  # best within 0.75
FULL = Arch((0, 1), (4, 4), (64, 64))  # over every budget


def _row(i: int, arch: Arch, ratio: float, search: float, dev: float) -> dict[str, Any]:
    feasible = ratio <= 0.75
    return {"trial_id": f"t{i}", "arch_id": arch.id, "arch_json": arch.to_json(), "flops": 200 * i,
            "flops_ratio": ratio, "macs": 100 * i, "params": 1000 * i, "search_metric": search,
            "dev_metric": dev, "metric_name": "accuracy", "sampler": "random", "budget_feasible": feasible,
            "status": "ok" if feasible else "infeasible", "wall_time_s": 0.1}  # fmt: skip


def _spec(data: Path, tmp: Path, retrain: bool = True) -> Spec:
    train = OptimSpec(max_steps=1, batch_size=8, learning_rate=1e-5, warmup_ratio=0.0, num_threads=1)
    return Spec(
        name="demo",
        task="sst2",
        data=DataSpec(path=str(data), max_seq_length=32),
        teacher=TeacherSpec(model="unused", finetuned=True),
        supernet=SupernetSpec(train=train),
        search=SearchSpec(
            budgets=[0.5, 0.75], retrain=RetrainSpec(epochs=1, learning_rate=5e-3) if retrain else None
        ),
        export=ExportSpec(formats=["hf"], dir=str(tmp / "exports")),
        resources=ResourcesSpec(num_workers=0, storage_path=str(tmp / "runs")),
    )


@pytest.fixture
def run_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A finished search: teacher and supernet = the tiny model, a trial table over three Archs of it."""
    run = tmp_path / "runs" / "demo"
    for stage in ("teacher", "supernet"):
        shutil.copytree(tiny_model_dir, run / stage / "model")
    rows = [_row(1, SMALL, 0.3, 0.7, 0.6), _row(2, MEDIUM, 0.6, 0.8, 0.7), _row(3, FULL, 1.0, 0.9, 0.9)]
    write_table(make_table(rows), run / "search")
    (run / "search" / "meta.json").write_text(
        json.dumps({"fixed_ratio": 0.0})
    )  # the budget rule's fixed cost
    return run


def _run(stage: Any, spec: Spec, run_dir: Path) -> dict[str, Any]:
    """Run one stage module on the run (fixed keys: these tests do not plan)."""
    return stage.run(StageRun(spec, RunLayout(run_dir), "key", "run key"))


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def test_retrain_then_export(run_dir: Path, sst2_dir: Path, tmp_path: Path) -> None:
    spec = _spec(sst2_dir, tmp_path)
    _run(picks, spec, run_dir)
    summary = _run(retrain, spec, run_dir)
    out = run_dir / "retrain"
    record = json.loads((out / "retrain.json").read_text())
    assert list(record) == [SMALL.id, MEDIUM.id]
    supernet = BertForSequenceClassification.from_pretrained(run_dir / "supernet" / "model")
    for arch, budget, before in ((SMALL, 0.5, 0.6), (MEDIUM, 0.75, 0.7)):
        r, model_dir = record[arch.id], out / arch.id / "model"
        assert (r["budget"], r["dev_before"]) == (budget, before)
        assert r["dev_after"] == pytest.approx(manual_accuracy(model_dir, sst2_dir / "dev.tsv"))
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
        assert isinstance(model, SubnetBertForSequenceClassification)
        assert sum(p.numel() for p in model.parameters()) == params(arch, supernet.config, 2)
        init = _weights(out / arch.id / "init")
        sliced = materialise(supernet, arch).state_dict()
        assert all(torch.equal(init[k], sliced[k]) for k in init)  # init = the supernet's slice
        trained = _weights(model_dir)
        assert init.keys() == trained.keys()
        assert not all(torch.equal(init[k], trained[k]) for k in init)  # training moved the weights
    for i in (0, 1):  # one epoch of 36 train rows (4 are the search split) at batch 8; max_steps is ignored
        assert (ray_storage(spec) / f"demo-retrain-{i}" / "checkpoint_00000005").is_dir()
    assert f"<=0.5x {SMALL.id} accuracy 0.6000 ->" in summary["headline"]
    points = read_points(RunLayout(run_dir)).set_index("label")
    assert points.loc[f"retrained {SMALL.id}", "dev_metric"] == record[SMALL.id]["dev_after"]

    exported = _run(export, spec, run_dir)
    assert exported["retrained"] == [SMALL.id, MEDIUM.id]
    for arch, budget in ((SMALL, 50), (MEDIUM, 75)):
        target = tmp_path / "exports" / "demo" / f"budget{budget}-{arch.id}"
        assert json.loads((target / "export.json").read_text())["arch_id"] == arch.id  # the supernet's Arch
        trained = _weights(out / arch.id / "model")
        assert all(torch.equal(v, trained[k]) for k, v in _weights(target).items())

    points = read_points(RunLayout(run_dir)).set_index("label")
    assert points.loc["pick 0.5", "export_dir"] == str(tmp_path / "exports" / "demo" / f"budget50-{SMALL.id}")
    assert points.loc[["pick 0.5", "pick 0.75", f"retrained {SMALL.id}"], "latency_ms"].gt(0).all()

    # without search.retrain, export slices the supernet again, even though re-trained models are on disk: the
    # run drops the rows of a stage turned off (`pipeline._drop_points_of_disabled`)
    from raydistill.pipeline import _drop_points_of_disabled

    off = _spec(sst2_dir, tmp_path, retrain=False)
    _drop_points_of_disabled(off, RunLayout(run_dir), stage_graph())
    _run(export, off, run_dir)
    sliced = materialise(supernet, SMALL).state_dict()
    target = tmp_path / "exports" / "demo" / f"budget50-{SMALL.id}"
    assert all(torch.equal(v, sliced[k]) for k, v in _weights(target).items())


def test_a_subnetwork_materialises_again(tiny_config: Any) -> None:
    torch.manual_seed(0)
    supernet = BertForSequenceClassification(tiny_config).eval()
    cut = materialise(supernet, Arch((1,), (3,), (48,)))  # layer 1 of the supernet, as layer 0
    ids = torch.randint(5, 60, (2, 6))  # (B, L)
    whole = materialise(cut, Arch((0,), (3,), (48,)))  # its own full Arch: a copy
    assert all(torch.equal(v, cut.state_dict()[k]) for k, v in whole.state_dict().items())
    assert torch.equal(whole(ids).logits, cut(ids).logits)
    again = materialise(cut, Arch((0,), (1,), (16,)))  # indexes the cut model's layers ...
    assert Arch.from_json(again.config.source_arch) == Arch((1,), (1,), (16,))  # in the supernet
    assert torch.equal(again(ids).logits, materialise(supernet, Arch((1,), (1,), (16,)))(ids).logits)
    with pytest.raises(ArchError, match="layer 0 of this sub-network has 3 heads"):
        materialise(cut, Arch((0,), (4,), (48,)))


def test_each_retrain_run_is_keyed_by_the_stage_run_key_and_its_arch(tmp_path: Path, sst2_dir: Path) -> None:
    """`trainer.fit` resumes a run only under the key it started with: the stage's run key and the Arch."""
    spec, layout = _spec(sst2_dir, tmp_path), RunLayout(tmp_path / "run")
    ctx = StageRun(spec, layout, "key", "run key")
    assert ctx.sub_key(SMALL.id) == StageRun(spec, layout, "other key", "run key").sub_key(SMALL.id)
    assert ctx.sub_key(SMALL.id) != ctx.sub_key(MEDIUM.id)  # run i now trains another Arch: start again
    assert ctx.sub_key(SMALL.id) != StageRun(spec, layout, "key", "other run key").sub_key(SMALL.id)


def test_an_arch_picked_for_two_budgets_is_exported_once(
    run_dir: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    spec = _spec(sst2_dir, tmp_path, retrain=False)
    spec = spec.model_copy(update={"search": spec.search.model_copy(update={"budgets": [0.3, 0.5, 0.75]})})
    _run(picks, spec, run_dir)
    summary = _run(export, spec, run_dir)  # SMALL (ratio 0.3) is the best within 0.3 and within 0.5
    root = tmp_path / "exports" / "demo"
    assert sorted(p.name for p in root.iterdir()) == [f"budget30+50-{SMALL.id}", f"budget75-{MEDIUM.id}"]
    assert summary["exports"] == {"0.3": str(root / f"budget30+50-{SMALL.id}"),
                                  "0.5": str(root / f"budget30+50-{SMALL.id}"),
                                  "0.75": str(root / f"budget75-{MEDIUM.id}")}  # fmt: skip
    assert json.loads((run_dir / "export" / "exports.json").read_text()) == summary["exports"]
    manifest = json.loads((root / f"budget30+50-{SMALL.id}" / "export.json").read_text())
    assert (manifest["arch_id"], manifest["budgets"]) == (SMALL.id, [0.3, 0.5])
    assert list(json.loads((run_dir / "export" / "latency.json").read_text())) == [SMALL.id, MEDIUM.id]
    assert summary["headline"].startswith("2 sub-networks exported")
