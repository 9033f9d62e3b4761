"""Stage `augment`: TinyBERT data augmentation of the training examples (`data.augment`), off by default.

It reads the task's data exactly as training does (`data.splits.load_splits`, the same search-split carving), so
only the examples left for training are augmented: the search split and the dev sets are never read into the
augmented set, and the MLM head is fitted on training text only. It writes `augment/train.jsonl` (each original
example, then its copies; `augmented_train_path`) and, when the masked LM's checkpoint has no MLM head,
`augment/mlm_head/` (the fitted head, reused while its own key holds, with its masked-token accuracy on held-out
training text). The MLM is `augment.mlm_model`, else the checkpoint `teacher.model` names (not the fine-tuned
teacher: TinyBERT uses a pre-trained BERT's MLM), so the stage does not need the teacher stage. Copies keep the
original's gold label; methods that distil from the teacher's outputs do not use it.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from raydistill.layout import RunLayout
from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage

__all__ = ["augmented_train_path", "read_augmented_train"]

HELD_OUT = 500  # at most this many held-out sentences score the MLM head (a tenth of the corpus when smaller)
HEAD_BATCH, HEAD_LR = 32, 1e-3


def augmented_train_path(layout: RunLayout) -> Path:
    """The augmented training set of a run (JSON Lines; `read_augmented_train` or `read_split` read it)."""
    return layout.augmented_train


def read_augmented_train(layout: RunLayout, task_name: str) -> list:
    """The augmented training examples (originals first, each followed by its copies `<guid>-aug<c>`)."""
    from raydistill.data.augment import read_augmented
    from raydistill.data.tasks import get_task

    return read_augmented(augmented_train_path(layout), get_task(task_name))


def _train_examples(spec: Any) -> list:
    """The training examples left after the search split is carved (as `prepare_task_data` loads them)."""
    from raydistill.data.splits import load_splits
    from raydistill.data.tasks import get_task
    from raydistill.training.config import data_kwargs

    kwargs = data_kwargs(spec.data)
    keep = ("source", "path", "hub_name", "train_file", "dev_file", "columns", "max_train_examples",
            "max_eval_examples", "search_fraction")  # fmt: skip
    splits = load_splits(get_task(spec.task), seed=spec.seed, **{k: kwargs[k] for k in keep})
    return splits.train


def _corpus(spec: Any, train: list) -> tuple[list[str], str]:
    """(sentences the MLM head is fitted and scored on, where they come from)."""
    path = spec.augment.mlm_corpus
    if path is not None:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
        return [s.strip() for s in lines if s.strip()], f"corpus file {path}"
    texts = [t for ex in train for t in (ex.text_a, ex.text_b) if t]
    return texts, f"{len(train)} training examples of {spec.task}"


def _head_key(spec: Any, sentences: list[str]) -> str:
    from raydistill.models.loading import resolve_model_name, weights_digest

    name = spec.augment.mlm_model or spec.teacher.model
    source = Path(resolve_model_name(name))
    weights = weights_digest(source) if source.is_dir() else name
    corpus = hashlib.sha256("\n".join(sentences).encode()).hexdigest()
    parts = [name, weights, corpus, spec.augment.mlm_steps, spec.seed, HEAD_BATCH, HEAD_LR, spec.data.max_seq_length]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _ready_head(ctx: StageRun, model: Any, tokenizer: Any, own_head: bool, train: list) -> dict[str, Any]:
    """Fit the MLM head (or load the cached one; or keep the checkpoint's own) and score it on held-out text."""
    from raydistill import console
    from raydistill.models.mlm import fit_mlm_head, load_head, masked_token_accuracy, save_head

    spec, layout = ctx.spec, ctx.layout
    sentences, source = _corpus(spec, train)
    random.Random(spec.seed).shuffle(sentences)
    held = min(HELD_OUT, max(1, len(sentences) // 10))
    held_out, fit_on = sentences[:held], sentences[held:] or sentences
    key = _head_key(spec, sentences)
    meta: dict[str, Any] = {"own_head": own_head, "corpus": source, "held_out_sentences": len(held_out)}
    if not own_head:
        old = json.loads(layout.mlm_head_meta.read_text()) if layout.mlm_head_meta.is_file() else {}
        if old.get("key") == key and layout.mlm_head_weights.is_file():
            load_head(model, layout.mlm_head_weights)
            return old
        fit_mlm_head(model, tokenizer, fit_on, steps=spec.augment.mlm_steps, seed=spec.seed, batch_size=HEAD_BATCH,
                     learning_rate=HEAD_LR, max_length=spec.data.max_seq_length,
                     progress=lambda d, t, text: console.progress(d, t, text))  # fmt: skip
        save_head(model, layout.mlm_head_weights)
        meta |= {"key": key, "steps": spec.augment.mlm_steps, "fit_sentences": len(fit_on)}
    meta["accuracy"] = masked_token_accuracy(
        model, tokenizer, held_out, seed=spec.seed, top_k=spec.augment.top_k, max_length=spec.data.max_seq_length
    )
    layout.mlm_head_dir.mkdir(parents=True, exist_ok=True)
    layout.mlm_head_meta.write_text(json.dumps(meta, indent=1))
    return meta


def _check_vocab(mlm_tokenizer: Any, teacher_model: str, mlm_model: str) -> None:
    from raydistill.errors import ModelError
    from raydistill.models.loading import load_tokenizer

    if mlm_model != teacher_model and load_tokenizer(teacher_model).get_vocab() != mlm_tokenizer.get_vocab():
        raise ModelError(
            f"augment.mlm_model {mlm_model!r} has another vocabulary than teacher.model {teacher_model!r}; "
            "its candidates would not be words of the students' tokenizer; give a model with the same vocabulary "
            "or leave augment.mlm_model unset (the teacher's checkpoint)"
        )


def run(ctx: StageRun) -> dict[str, Any]:
    import torch

    from raydistill import console
    from raydistill.data.augment import AugmentOptions, augment_examples, default_copies, write_augmented
    from raydistill.data.glove import Glove
    from raydistill.data.tasks import get_task
    from raydistill.models.loading import load_tokenizer
    from raydistill.models.mlm import load_mlm

    spec, aug = ctx.spec, ctx.spec.augment
    train = _train_examples(spec)
    mlm_name = aug.mlm_model or spec.teacher.model
    tokenizer = load_tokenizer(mlm_name)
    _check_vocab(tokenizer, spec.teacher.model, mlm_name)
    model, own_head = load_mlm(mlm_name)
    if spec.resources.use_gpu and torch.cuda.is_available():
        model = model.cuda()
    head = _ready_head(ctx, model, tokenizer, own_head, train)
    glove = Glove.read(aug.glove_path) if aug.glove_path else None
    options = AugmentOptions(copies=aug.copies or default_copies(spec.task), p=aug.p, top_k=aug.top_k,
                             seed=spec.seed, batch_size=aug.batch_size, max_length=spec.data.max_seq_length)  # fmt: skip
    examples = train[: aug.max_examples] if aug.max_examples else train
    rows = augment_examples(examples, tokenizer, model, glove, options,
                            progress=lambda d, t: console.progress(d, t, unit="example"))  # fmt: skip
    counts = write_augmented(ctx.layout.augmented_train, rows, get_task(spec.task))
    acc = head["accuracy"]
    which = "own MLM head" if own_head else f"fitted MLM head ({head.get('steps')} steps)"
    headline = (
        f"{counts['augmented']} copies of {counts['examples']} train examples (N={options.copies}, p={aug.p:g}); "
        f"{which}: held-out masked-token accuracy {acc['top1']:.3f} (top-{acc['k']} {acc['top_k']:.3f})"
    )
    return {"headline": headline, "path": str(ctx.layout.augmented_train), **counts, "mlm_head": head}


def _files(spec: Any) -> dict[str, Any]:
    """The GloVe and corpus files by content (their paths are in the spec; a changed file reruns the stage)."""
    from raydistill.stages.keys import _file_digest

    aug = spec.augment
    paths = {"augment.glove_path": aug.glove_path, "augment.mlm_corpus": aug.mlm_corpus}
    return {k: _file_digest(Path(v).expanduser()) for k, v in paths.items() if v and Path(v).expanduser().is_file()}


STAGE = register_stage(
    Stage(
        "augment",
        run,
        sections=("task", "data", "seed", "teacher.model", "augment"),
        exclude=("data.max_eval_examples", "data.doc_stride", "data.max_query_length", "data.max_answer_length",
                 "data.n_best", "augment.batch_size"),  # fmt: skip
        derived=_files,
        reads_data=True,
        enabled=lambda spec: spec.augment.enabled,
    )
)
