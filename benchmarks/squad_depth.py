"""Diagnostic `squad_depth`: does a depth-halved QA sub-network of a trained SQuAD supernet learn at all?

In every `squad_length` run the depth-0.5 sub-networks (DynaBERT's rule keeps layers 1, 3, 5 of 6) stay at 11-14
F1 while the full model reaches 59-67, whatever the training length or loss. This separates "cannot be trained"
(a bug in the depth path of the QA head, restore or LayerDrop) from "is trained too little":
(a) the search-split F1 of several 3-layer choices of the run's supernet, untrained as 3-layer networks except
    the DynaBERT one (which the supernet trained);
(b) the DynaBERT choice trained ALONE from that supernet for `--steps` steps with LengthDrop's sub-model loss
    (KL to the detached full model + `--hidden-weight` x the hidden-state term, `distill.lengthdrop`), the
    supernet stage's batch size and learning rate (AdamW, no warm-up, clip 1.0), full width and every token;
    every `--every` steps the search-split F1 of the sub-network and of the full Arch (they share the layers).

Needs the run's cached supernet (`python -m benchmarks.squad_length --data ../shared/data --runs <run>` first).
No Ray: one process, the stated threads.

    python -m benchmarks.squad_depth --data ../shared/data --work /work/benchwork [--run joint-hidden]
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from benchmarks.common import bench_parser, environment, guarded, md_table, write_results
from benchmarks.squad_length import RUNS, run_spec

CHOICES = ((1, 3, 5), (0, 2, 4), (0, 1, 2), (3, 4, 5))  # 3 of 6 layers; the first is DynaBERT's depth-0.5 rule


def three_layers(config: Any, layers: tuple[int, ...]) -> Any:
    """The full-width Arch over `layers` (every head and FFN neuron, every token)."""
    from raydistill.models.arch import Arch

    n = len(layers)
    return Arch(layers, (config.num_attention_heads,) * n, (config.intermediate_size,) * n, None)


def train_alone(model: Any, data: Any, sub: Any, spec: Any, steps: int, every: int, hidden_weight: float,
                f1: Any) -> list[dict[str, Any]]:  # fmt: skip
    """Train `sub` alone (module docstring (b)); the F1 curve at step 0 and every `every` steps."""
    import torch

    from raydistill.distill.lengthdrop import LengthDropOptions, sub_model_loss

    train = spec.supernet.train
    opts = LengthDropOptions(kind="qa", num_labels=2, seq_length=spec.data.max_seq_length, hidden_weight=hidden_weight)
    full = model.full_arch
    opt = torch.optim.AdamW(model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay)
    order = list(range(len(data.train)))
    random.Random(spec.seed).shuffle(order)
    curve = [{"step": 0, "sub_f1": f1(sub), "full_f1": f1(full), "loss": None, "seconds": 0.0}]
    start, losses = time.perf_counter(), []
    for step in range(1, steps + 1):
        first = (step - 1) * train.batch_size % len(order)
        batch = data.collate([data.train[i] for i in order[first : first + train.batch_size]])
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        model.train()
        with torch.no_grad():
            ref = model(full, **inputs, output_hidden_states=hidden_weight > 0)
        out = model(sub, **inputs, output_hidden_states=hidden_weight > 0)
        loss = sub_model_loss(out, ref, sub, inputs["attention_mask"], opts)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.max_grad_norm)
        opt.step()
        losses.append(loss.item())
        if step % every == 0 or step == steps:
            seconds = time.perf_counter() - start
            mean = sum(losses) / len(losses)
            curve.append({"step": step, "sub_f1": f1(sub), "full_f1": f1(full), "loss": mean, "seconds": seconds})
            print(f"squad_depth: step {step}/{steps} loss {mean:.3f} sub F1 {curve[-1]['sub_f1']:.2f} "
                  f"full F1 {curve[-1]['full_f1']:.2f} ({seconds:.0f} s)", flush=True)  # fmt: skip
            losses = []
    return curve


def run(data_root: Path, work: Path, kind: str, steps: int, every: int, hidden_weight: float, threads: int) -> dict[str, Any]:  # fmt: skip
    import torch

    from raydistill.layout import RunLayout
    from raydistill.models.bert import ElasticBert
    from raydistill.search.tuner import load_setup
    from raydistill.training.evaluate import evaluate

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    storage = work / "squad_length"
    spec, _ = run_spec(kind, data_root, storage)
    supernet = RunLayout.of(storage, spec.name).supernet_model
    if not supernet.is_dir():
        raise SystemExit(f"no cached supernet at {supernet}: run `python -m benchmarks.squad_length --runs {kind}` first")
    setup = load_setup(spec, supernet)
    model, data = ElasticBert(setup.model), setup.data

    def f1(arch: Any) -> float:
        return float(evaluate(lambda **kw: model(arch, **kw).logits, data.search, data.collate, 64)["f1"])

    choices = {",".join(map(str, c)): f1(three_layers(model.config, c)) for c in CHOICES}
    curve = train_alone(model, data, three_layers(model.config, CHOICES[0]), spec, steps, every, hidden_weight, f1)
    return {
        "benchmark": "squad_depth", "run": spec.name, "supernet": str(supernet),
        "split": f"search split of the run ({len(data.search.examples)} questions of the train articles)",
        "settings": {"steps": steps, "every": every, "hidden_weight": hidden_weight, "threads": threads,
                     "batch_size": spec.supernet.train.batch_size, "learning_rate": spec.supernet.train.learning_rate,
                     "train_windows": len(data.train)},
        "untrained_choices_f1": choices, "curve": curve, "environment": environment(),
    }  # fmt: skip


def render(r: dict[str, Any]) -> str:
    s = r["settings"]
    choices = md_table(["kept layers", "search F1"], [[k, f"{v:.2f}"] for k, v in r["untrained_choices_f1"].items()])
    rows = [[c["step"], f"{c['sub_f1']:.2f}", f"{c['full_f1']:.2f}", "" if c["loss"] is None else f"{c['loss']:.3f}",
             f"{c['seconds']:.0f}"] for c in r["curve"]]  # fmt: skip
    curve = md_table(["step", "layers 1,3,5 F1", "full Arch F1", "mean loss since last row", "seconds"], rows)
    return f"""# squad_depth: does the depth-halved QA sub-network learn?

Run `{r['run']}`'s supernet; F1 on the {r['split']}.

## 3-layer choices of the supernet as it is (full width, every token)
Only 1,3,5 (DynaBERT's depth-0.5 rule) was trained as a 3-layer network by the supernet stage.

{choices}

## Layers 1,3,5 trained alone
{s['steps']} steps of {s['batch_size']} windows (of {s['train_windows']}), learning rate {s['learning_rate']}, KL to the
detached full model + {s['hidden_weight']} x the hidden-state term, {s['threads']} threads.

{curve}
"""


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("squad_depth diagnostic (needs a cached squad_length run)", work_help="squad_length's --work")
    parser.add_argument("--run", default="joint-hidden", choices=[k for k in RUNS if k != "length"])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--hidden-weight", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    results = run(args.data.resolve(), args.work.resolve(), args.run, args.steps, args.every, args.hidden_weight,
                  args.threads)  # fmt: skip
    write_results(args.out, "squad_depth", results, render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
