"""MLM head fitted on SST-2 train sentences for the packaged MiniLM (no MLM head of its own); not part of
`make bench`.

    python -m benchmarks.mlm_head --out reports/benchmarks [--steps 2000 --lr 2e-3 --head runs/mlm_head.pt]

The sentences are SST-2's train examples left after the default search split (seed 42, 10%), as the augment
stage reads them: 500 of them (shuffled with the seed) are held out, the head is fitted on the rest
(`models.mlm.fit_mlm_head`: BERT's transform dense + GELU + LayerNorm, then the decoder tied to the input
embeddings with a bias; the encoder frozen) and scored on the held-out ones (`masked_token_accuracy`: 15% of
tokens masked, at least one per sentence) before and after, with the steps, learning rate and wall time.
Writes mlm_head.json and mlm_head.md under --out and the fitted head to --head (not committed: an artifact).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import environment, write_results
from raydistill.data.splits import load_splits
from raydistill.data.tasks import get_task
from raydistill.models.loading import load_tokenizer
from raydistill.models.mlm import fit_mlm_head, load_mlm, masked_token_accuracy, save_head

HELD_OUT, SEED, MAX_LENGTH, TOP_K = 500, 42, 64, 15


def _sentences(data: str) -> list[str]:
    train = load_splits(get_task("sst2"), path=data, search_fraction=0.1, seed=SEED).train
    texts = [ex.text_a for ex in train]
    random.Random(SEED).shuffle(texts)
    return texts


def _progress(start: float):  # type: ignore[no-untyped-def]
    def show(done: int, total: int, text: str) -> None:
        if done % 100 == 0 or done == total:
            print(
                f"step {done}/{total} {text} {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True
            )

    return show


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default="../shared/data/glue/SST-2")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--head", type=Path, default=Path("runs/mlm_head_minilm_sst2.pt"))
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    args = parser.parse_args(argv)

    texts = _sentences(args.data)
    held_out, fit_on = texts[:HELD_OUT], texts[HELD_OUT:]
    tokenizer = load_tokenizer(args.model)
    model, own_head = load_mlm(args.model)
    score = {"seed": SEED, "top_k": TOP_K, "max_length": MAX_LENGTH}
    before = masked_token_accuracy(model, tokenizer, held_out, **score)
    start = time.perf_counter()
    loss = fit_mlm_head(model, tokenizer, fit_on, steps=args.steps, seed=SEED, batch_size=args.batch,
                        learning_rate=args.lr, max_length=MAX_LENGTH, progress=_progress(start))  # fmt: skip
    fit_s = time.perf_counter() - start
    after = masked_token_accuracy(model, tokenizer, held_out, **score)
    save_head(model, args.head)
    results = {
        "model": args.model, "own_head": own_head, "fit_sentences": len(fit_on), "held_out_sentences": HELD_OUT,
        "steps": args.steps, "batch_size": args.batch, "learning_rate": args.lr, "fit_seconds": round(fit_s, 1),
        "last_loss": loss, "before": before, "after": after, "head": str(args.head), "environment": environment(),
    }  # fmt: skip
    md = "\n".join([
        "# MLM head for the packaged MiniLM-L6, fitted on SST-2 train sentences",
        "",
        f"`python -m benchmarks.mlm_head --steps {args.steps} --lr {args.lr:g} --batch {args.batch}` "
        f"(commit {results['environment']['git_commit']}, {results['environment']['cpu_count']} CPUs, shared).",
        "",
        f"Fitted on {len(fit_on)} SST-2 train sentences (the default search split carved out first), scored on "
        f"{HELD_OUT} held-out ones: 15% of the tokens masked (at least one per sentence), {after['tokens']} "
        "masked tokens. Encoder frozen; head = dense + GELU + LayerNorm, decoder tied to the input embeddings + bias.",
        "",
        "| head | top-1 | top-15 | loss |",
        "|---|---|---|---|",
        f"| fresh (before fitting) | {before['top1']:.3f} | {before['top_k']:.3f} | {before['loss']:.2f} |",
        f"| fitted, {args.steps} steps x {args.batch}, lr {args.lr:g} ({fit_s:.0f} s) | {after['top1']:.3f} | "
        f"{after['top_k']:.3f} | {after['loss']:.2f} |",
    ])  # fmt: skip
    write_results(args.out, "mlm_head", results, md)
    print(md)
    return results


if __name__ == "__main__":
    main()
