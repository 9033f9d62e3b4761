"""GPU check of the torch-only layers (models/, distill/) on a CUDA device; not part of `make bench`.

`python -m benchmarks.gpu_check --out reports/benchmarks` on a machine with a GPU (needs only torch and
transformers: models/ and distill/ import neither Ray nor Optuna, so it runs where those are not installed).
On a BERT-base-shaped model (12 layers, hidden 768, 12 heads, FFN 3072) built from a config with random
weights (seed 0), for a few Archs (full, DynaBERT width 0.5 and 0.25, depth 0.5, a mixed layerwise one):

1. the elastic forward on CUDA (float32, TF32 off) against the same forward in float64 on the CPU;
2. DynaBERT importance + reordering computed on CUDA leave the full model's logits unchanged;
3. a training step of the supernet's kind on CUDA (sub-network logits distilled from the full model's, summed
   over the Archs): every gradient finite and on the device;
4. exports materialised on CUDA (stock `bert` or `raydistill_bert`) give the elastic forward's logits;
5. latency: median of CUDA-event timings of each export at batch 32 x 128 tokens, float32 and bf16 autocast.

Writes gpu_check.json and gpu_check.md under --out; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification

from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.models.export import materialise, stock_bert
from raydistill.models.reorder import compute_importance, reorder_

BATCH, SEQ = 32, 128
TOL = {"forward_rel_err": 1e-4, "reorder_rel_err": 1e-4, "export_max_abs": 1e-4}


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double().cpu() - ref.double().cpu()).norm() / ref.double().cpu().norm())


def _batch(config: BertConfig, device: str, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, config.vocab_size, (BATCH, SEQ), generator=g)
    lengths = torch.randint(SEQ // 4, SEQ + 1, (BATCH,), generator=g)
    mask = (torch.arange(SEQ)[None, :] < lengths[:, None]).long()  # (B, L): real lengths vary
    labels = torch.randint(0, 2, (BATCH,), generator=g)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids), "labels": labels}
    return {k: v.to(device) for k, v in batch.items()}


def _archs(config: BertConfig) -> dict[str, Arch]:
    archs = {f"w{w:g}": Arch.for_config(config, width=w) for w in (1.0, 0.5, 0.25)}
    archs["d0.5"] = Arch.for_config(config, depth=0.5)
    archs["layerwise"] = Arch(  # 8 of 12 layers, heads and FFN width chosen per layer
        (0, 2, 3, 5, 7, 8, 10, 11), (12, 6, 9, 3, 12, 6, 3, 12), (3072, 1536, 2304, 768, 3072, 1536, 768, 3072)
    )
    return archs


def _logits(model: Any, arch: Arch, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    return elastic_forward(model, arch, **inputs).logits  # (B, C)


def check_forward(model: Any, archs: dict[str, Arch], batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """(1) CUDA float32 vs CPU float64 logits, relative error per Arch."""
    ref_model = _clone(model, "cpu", torch.float64)
    cpu = {k: v.cpu() for k, v in batch.items()}
    with torch.no_grad():
        return {name: _rel_err(_logits(model, a, batch), _logits(ref_model, a, cpu)) for name, a in archs.items()}


def _clone(model: Any, device: str, dtype: torch.dtype) -> Any:
    twin = BertForSequenceClassification(model.config).to(dtype)
    twin.load_state_dict({k: v.to(dtype) for k, v in model.state_dict().items()})
    return twin.to(device).eval()


def check_reorder(model: Any, batch: dict[str, torch.Tensor]) -> float:
    """(2) importance on CUDA, reorder in place: the full model's logits before vs after."""
    full = Arch.for_config(model.config)
    with torch.no_grad():
        before = _logits(model, full, batch)
    heads, neurons = compute_importance(model, [batch])
    reorder_(model, heads, neurons)
    with torch.no_grad():
        after = _logits(model, full, batch)
    return _rel_err(after, before)


def check_training_step(model: Any, archs: dict[str, Arch], batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """(3) soft cross-entropy of every Arch to the full model's detached logits, one backward each."""
    model.train()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        teacher = _logits(model, Arch.for_config(model.config), batch).softmax(-1)  # (B, C)
    losses = {}
    for name, arch in archs.items():
        loss = -(teacher * F.log_softmax(_logits(model, arch, batch), -1)).sum(-1).mean()
        loss.backward()
        losses[name] = loss.item()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    model.eval()
    return {
        "losses": losses,
        "grads_finite": all(bool(torch.isfinite(g).all()) for g in grads),
        "grads_on_device": all(g.device.type == "cuda" for g in grads),
        "params_with_grad": len(grads),
    }


def check_exports(model: Any, archs: dict[str, Arch], batch: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """(4) + (5): each Arch materialised on CUDA (stock bert where it can be), logits and latency."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    rows = {}
    for name, arch in archs.items():
        small = materialise(model, arch)
        exported = (stock_bert(small) or small).cuda().eval()
        with torch.no_grad():
            diff = (exported(**inputs).logits - _logits(model, arch, batch)).abs().max()
        rows[name] = {
            "kind": "bert" if stock_bert(small) is not None else "raydistill_bert",
            "max_abs_diff": float(diff),
            "ms_fp32": _median_ms(exported, inputs, autocast=False),
            "ms_bf16": _median_ms(exported, inputs, autocast=True),
        }
    return rows


def _median_ms(model: Any, inputs: dict[str, torch.Tensor], *, autocast: bool, repeats: int = 50) -> float:
    times = []
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        for i in range(10 + repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(**inputs)
            end.record()
            torch.cuda.synchronize()
            if i >= 10:  # warm-up first
                times.append(start.elapsed_time(end))
    return statistics.median(times)


def run(out_dir: Path) -> int:
    if not torch.cuda.is_available():
        print("error: no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    config = BertConfig(num_labels=2, attn_implementation="eager")
    model = BertForSequenceClassification(config).cuda().eval()
    batch, archs = _batch(config, "cuda", 0), _archs(config)
    started = time.time()
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "forward_rel_err": check_forward(model, archs, batch),
        "reorder_rel_err": check_reorder(model, batch),
        "training_step": check_training_step(model, archs, batch),
        "exports": check_exports(model, archs, batch),
    }
    result["seconds"] = time.time() - started
    result["passed"] = _passed(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_check.json").write_text(json.dumps(result, indent=2))
    (out_dir / "gpu_check.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0 if result["passed"] else 1


def _passed(r: dict[str, Any]) -> bool:
    step = r["training_step"]
    return (
        max(r["forward_rel_err"].values()) < TOL["forward_rel_err"]
        and r["reorder_rel_err"] < TOL["reorder_rel_err"]
        and step["grads_finite"]
        and step["grads_on_device"]
        and max(e["max_abs_diff"] for e in r["exports"].values()) < TOL["export_max_abs"]
    )


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "# gpu_check",
        "",
        f"{r['device']}, torch {r['torch']}; BERT-base shape from a config (random weights, seed 0), batch "
        f"{BATCH} x {SEQ} tokens with real lengths {SEQ // 4}-{SEQ}; float32 with TF32 off. Passed: {r['passed']}.",
        "",
        f"Reordering on CUDA: full-model logits relative change {r['reorder_rel_err']:.2e}. Training step: "
        f"gradients finite {r['training_step']['grads_finite']}, on the device "
        f"{r['training_step']['grads_on_device']} ({r['training_step']['params_with_grad']} tensors).",
        "",
        "| Arch | forward rel. err vs CPU float64 | export kind | export max abs diff | ms fp32 | ms bf16 |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in r["exports"].items():
        lines.append(
            f"| {name} | {r['forward_rel_err'][name]:.2e} | {e['kind']} | {e['max_abs_diff']:.2e} | "
            f"{e['ms_fp32']:.2f} | {e['ms_bf16']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    return run(parser.parse_args(argv).out)


if __name__ == "__main__":
    sys.exit(main())
