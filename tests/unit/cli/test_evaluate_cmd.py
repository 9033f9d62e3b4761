"""`raydistill evaluate EXPORT --data PATH`: scores either kind of export with the task's metrics, or errors cleanly.

The task is STS-B (sentence pairs, a regression head): its Pearson/Spearman correlations move with every logit,
so they tell a right forward from a wrong one (a tiny random classifier would predict one class everywhere).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from raydistill.cli import app
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.models.export import export_subnet
from tests.unit.data.conftest import SENTIMENT
from tests.unit.models.conftest import make_model

runner = CliRunner()
ARCHS = {"bert": Arch.full(2, 4, 64), "raydistill_bert": Arch((1,), (2,), (32,))}  # stock / shipped code
PAIRS = [
    (a, b, round(0.37 * i % 5, 2))
    for i, ((a, _), (b, _)) in enumerate(zip(SENTIMENT, SENTIMENT[3:] + SENTIMENT[:3], strict=True))
]
SPLITS = {"train": PAIRS, "dev": PAIRS[1:8]}


@pytest.fixture
def teacher():  # type: ignore[no-untyped-def]
    return make_model("regression")


@pytest.fixture
def exports(tmp_path: Path, teacher, tiny_tokenizer) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    out = {}
    for kind, arch in ARCHS.items():
        result = export_subnet(teacher, arch, tmp_path / kind, tokenizer=tiny_tokenizer, formats=("hf",), seq_len=16,
                               task="stsb")  # fmt: skip
        assert result.kind == kind
        out[kind] = result.out_dir
    return out


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """An STS-B dir (GLUE layout): 10 train pairs, 7 dev pairs."""
    root = tmp_path / "STS-B"
    root.mkdir()
    for name, rows in SPLITS.items():
        body = "".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows)
        (root / f"{name}.tsv").write_text("sentence1\tsentence2\tscore\n" + body)
    return root


def _pearson(teacher, tokenizer, arch: Arch, rows: list) -> float:  # type: ignore[no-untyped-def]
    """The sliced supernet's Pearson r, computed here with neither raydistill's data nor its evaluation code."""
    enc = tokenizer([a for a, _, _ in rows], [b for _, b, _ in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = elastic_forward(teacher, arch, enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    scores = out.logits.squeeze(-1).numpy()  # (N,)
    assert scores.std() > 1e-2  # the model tells the pairs apart, so the correlation depends on every score
    return float(np.corrcoef(scores, [y for _, _, y in rows])[0, 1])


@pytest.mark.parametrize("kind", list(ARCHS))
@pytest.mark.parametrize("split", list(SPLITS))
def test_evaluate_prints_the_task_metrics_of_either_kind(
    kind: str,
    split: str,
    exports: dict,
    data: Path,
    teacher,
    tiny_tokenizer,  # type: ignore[no-untyped-def]
) -> None:
    args = ["evaluate", str(exports[kind]), "--data", str(data), "--split", split]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()  # (stderr may hold transformers' progress bars in this test process)
    rows = SPLITS[split]
    assert "\n" not in line and line.startswith(f"{ARCHS[kind].id} on stsb {split} ({len(rows)} examples): ")
    as_json = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert as_json["task"] == "stsb" and as_json["examples"] == len(rows)
    assert set(as_json["metrics"]) == {"pearson", "spearmanr"}
    want = _pearson(teacher, tiny_tokenizer, ARCHS[kind], rows)
    assert as_json["metrics"]["pearson"] == pytest.approx(want, abs=1e-4)
    assert f"pearson={as_json['metrics']['pearson']:.4f}" in line


def test_evaluate_reads_one_file_and_defaults_to_the_main_dev(exports: dict, data: Path) -> None:
    one_file = runner.invoke(
        app, ["evaluate", str(exports["bert"]), "--data", str(data / "dev.tsv"), "--json"]
    )
    directory = runner.invoke(app, ["evaluate", str(exports["bert"]), "--data", str(data), "--json"])
    assert one_file.exit_code == directory.exit_code == 0, one_file.output + directory.output
    assert json.loads(one_file.stdout)["metrics"] == json.loads(directory.stdout)["metrics"]
    assert json.loads(directory.stdout)["split"] == "dev"


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("not_export", [], "is not a raydistill export"),
        ("bert", ["--data", "MISSING"], "does not exist"),
        ("bert", ["--task", "sst2"], "needs 2 outputs but the export"),
        ("bert", ["--task", "squad"], "does not fit the export's classification head"),
        ("bert", ["--split", "test"], "allowed: train, dev"),
        ("bert", ["--task", "stsbb"], "unknown task"),
        ("no_task", [], "give --task"),
    ],
)
def test_evaluate_errors_are_one_line(
    target: str, extra: list[str], message: str, exports: dict, data: Path, tmp_path: Path
) -> None:
    paths = dict(exports, not_export=tmp_path)
    if target == "no_task":  # an export made before the task was recorded
        manifest = exports["raydistill_bert"] / "export.json"
        manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"task": None}))
        paths["no_task"] = exports["raydistill_bert"]
    args = extra if "--data" in extra else ["--data", str(data), *extra]
    result = runner.invoke(app, ["evaluate", str(paths[target]), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and not result.stdout
