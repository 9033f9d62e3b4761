"""A real masked LM for data augmentation: the checkpoint's own MLM head, or one fitted on a corpus (no Ray).

`load_mlm` loads a BERT as `BertForMaskedLM` and reports whether the checkpoint's weights hold an MLM head
(`cls.predictions.transform.*`); a hub BERT such as bert-base-uncased does and is used as it is. An encoder-only
checkpoint (the packaged MiniLM) does not: `fit_mlm_head` then trains a BertOnlyMLMHead (dense + GELU +
LayerNorm transform, then a decoder whose weight IS the input embedding matrix, Devlin et al. 2019 / Press & Wolf
2017 weight tying, plus an output bias) with the whole encoder, embeddings included, frozen. The objective is
BERT's masked-token cross-entropy on 15% of the tokens (every chosen token replaced by [MASK], the only input
the augmentation feeds it). `masked_token_accuracy` scores an MLM on held-out text; `save_head` / `load_head`
keep a fitted head (the transform and the bias: the decoder weight is the embedding matrix).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from raydistill.errors import ModelError
from raydistill.models.loading import _load_error, require_hub_model, resolve_model_name

__all__ = ["fit_mlm_head", "head_is_tied", "load_head", "load_mlm", "masked_token_accuracy", "save_head"]

HEAD_PREFIX = "cls.predictions.transform."  # keys of a checkpoint that has its own MLM head
MASK_PROB = 0.15
GROUP = 1024  # sentences sorted by length together when fitting (`_grouped`)
WARMUP = 0.05  # of the fitting steps: linear warm-up, then linear decay to 0
Progress = Callable[[int, int, str], None]


def load_mlm(name_or_dir: str) -> tuple[Any, bool]:
    """(`BertForMaskedLM` in eval mode, whether the checkpoint holds its own MLM head).

    Raises:
        ModelError: the model cannot be found or loaded, or is not a BERT.
    """
    from transformers import AutoConfig, BertForMaskedLM

    source = resolve_model_name(name_or_dir)
    if not Path(source).is_dir():
        require_hub_model(name_or_dir)
    try:
        config = AutoConfig.from_pretrained(source)
        if config.model_type != "bert":
            raise ModelError(
                f"augment.mlm_model {name_or_dir!r} is a {config.model_type!r} model; the augmentation's masked "
                "LM must be a BERT (e.g. bert-base-uncased, or minilm-l6 with a fitted head)"
            )
        loaded: Any = BertForMaskedLM.from_pretrained(source, output_loading_info=True)
        model, info = loaded
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise _load_error(name_or_dir, err) from None
    missing = set(info.get("missing_keys", ()))
    own_head = not any(k.startswith(HEAD_PREFIX) for k in missing)
    return model.eval(), own_head


def head_is_tied(model: Any) -> bool:
    """The MLM decoder's weight is the input embedding matrix (one tensor, not a copy)."""
    decoder = model.cls.predictions.decoder.weight
    return decoder is model.bert.embeddings.word_embeddings.weight or (
        decoder.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    )


def _head_parameters(model: Any) -> dict[str, Tensor]:
    """The fitted head's own tensors: the transform and the output bias (not the tied decoder weight)."""
    return {k: v for k, v in model.cls.state_dict().items() if k != "predictions.decoder.weight"}


def mask_tokens(
    batch: dict[str, Tensor], tokenizer: Any, generator: torch.Generator, prob: float = MASK_PROB
) -> tuple[Tensor, Tensor]:
    """(masked input ids, labels) with about `prob` of each row's real tokens masked (at least one per row).

    Labels are -100 except at masked positions. Special tokens and padding are never masked.
    """
    ids = batch["input_ids"]  # (b, L)
    special = torch.zeros_like(ids, dtype=torch.bool)
    for token_id in tokenizer.all_special_ids:
        special |= ids == token_id
    score = torch.rand(ids.shape, generator=generator).masked_fill(special, 2.0)  # (b, L)
    chosen = (score < prob) | (score == score.min(dim=1, keepdim=True).values)  # at least one per row
    chosen &= ~special
    labels = ids.masked_fill(~chosen, -100)
    return ids.masked_fill(chosen, tokenizer.mask_token_id), labels


def _batches(sentences: Sequence[str], tokenizer: Any, size: int, max_length: int) -> list[dict[str, Tensor]]:
    return [
        dict(tokenizer(list(sentences[i : i + size]), truncation=True, max_length=max_length, padding=True,
                       return_tensors="pt"))
        for i in range(0, len(sentences), size)
    ]  # fmt: skip


def _grouped(sentences: Sequence[str], tokenizer: Any, seed: int) -> list[str]:
    """`sentences` shuffled with `seed`, then sorted by token count inside groups of `GROUP` (a batch pads to
    little more than its own sentences; on SST-2 phrases ~3x fewer tokens than random batches)."""
    order = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [sentences[i] for i in order]
    lengths = [len(ids) for ids in tokenizer(shuffled, add_special_tokens=False)["input_ids"]]
    out: list[str] = []
    for start in range(0, len(shuffled), GROUP):
        chunk = range(start, min(start + GROUP, len(shuffled)))
        out.extend(shuffled[i] for i in sorted(chunk, key=lambda i: lengths[i]))
    return out


def _loss_and_hits(model: Any, batch: dict[str, Tensor], labels: Tensor, top_k: int) -> tuple[Tensor, int, int]:
    """MLM cross-entropy over the masked positions, their top-1 hits and top-`top_k` hits."""
    with torch.no_grad():  # the encoder is frozen
        hidden = model.bert(**batch)[0]  # (b, L, H)
    where = labels != -100  # (b, L)
    logits = model.cls(hidden[where])  # (m, V): the head runs on masked positions only
    target = labels[where]  # (m,)
    top = logits.topk(top_k, dim=1).indices  # (m, K)
    hits_1 = int((top[:, 0] == target).sum())
    hits_k = int((top == target[:, None]).any(dim=1).sum())
    return nn.functional.cross_entropy(logits.float(), target), hits_1, hits_k


def fit_mlm_head(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[str],
    *,
    steps: int,
    seed: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    max_length: int = 64,
    progress: Progress | None = None,
) -> float:
    """Fit a freshly initialised MLM head tied to the frozen input embeddings; returns the last step's loss.

    Cycles through batches of `sentences` of similar lengths (`_grouped`, in an order shuffled with `seed`)
    for `steps` steps of AdamW, linear warm-up over `WARMUP` of them then linear decay; only the transform and
    the output bias train (module docstring).

    Raises:
        ModelError: no sentences to fit on.
    """
    if not sentences:
        raise ModelError("the MLM head has no text to fit on; give augment.mlm_corpus or a task with train text")
    torch.manual_seed(seed)
    model.cls.apply(model._init_weights)
    model.tie_weights()
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [p for k, p in model.cls.named_parameters() if k != "predictions.decoder.weight"]
    for p in trainable:
        p.requires_grad_(True)
    if not head_is_tied(model):
        raise ModelError("the MLM decoder is not tied to the input embeddings; cannot fit a tied head")
    batches = _batches(_grouped(sentences, tokenizer, seed), tokenizer, batch_size, max_length)
    random.Random(seed).shuffle(batches)  # batches of similar lengths, in random order
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
    warmup = max(1, round(WARMUP * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    model.eval()
    loss = torch.tensor(math.nan)
    for step in range(steps):
        batch = {k: v.to(device) for k, v in batches[step % len(batches)].items()}
        ids, labels = mask_tokens({k: v.cpu() for k, v in batch.items()}, tokenizer, generator)
        loss, _, _ = _loss_and_hits(model, batch | {"input_ids": ids.to(device)}, labels.to(device), 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, steps, f"MLM head loss {loss.item():.3f}")
    for p in trainable:
        p.requires_grad_(False)
    return float(loss.item())


@torch.no_grad()
def masked_token_accuracy(
    model: Any, tokenizer: Any, sentences: Sequence[str], *, seed: int, top_k: int = 15, max_length: int = 64
) -> dict[str, float]:
    """Masked-token accuracy on `sentences` (15% of tokens masked, fixed by `seed`).

    Returns:
        `{"top1": ..., "top_k": ..., "k": top_k, "tokens": masked tokens scored, "loss": mean cross-entropy}`.
    """
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    hits_1 = hits_k = count = 0
    total_loss = 0.0
    for batch in _batches(sentences, tokenizer, 64, max_length):
        ids, labels = mask_tokens(batch, tokenizer, generator)
        batch = {k: v.to(device) for k, v in (batch | {"input_ids": ids}).items()}
        loss, h1, hk = _loss_and_hits(model, batch, labels.to(device), top_k)
        m = int((labels != -100).sum())
        hits_1, hits_k, count, total_loss = hits_1 + h1, hits_k + hk, count + m, total_loss + loss.item() * m
    if not count:
        return {"top1": math.nan, "top_k": math.nan, "k": top_k, "tokens": 0, "loss": math.nan}
    return {"top1": hits_1 / count, "top_k": hits_k / count, "k": top_k, "tokens": count, "loss": total_loss / count}


def save_head(model: Any, path: Path) -> None:
    """Write the fitted head's own tensors (not the tied decoder weight) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({k: v.detach().cpu() for k, v in _head_parameters(model).items()}, partial)
    partial.replace(path)


def load_head(model: Any, path: Path) -> None:
    """Load a head written by `save_head` into `model` (its decoder stays tied to the embeddings).

    Raises:
        ModelError: the file does not fit the model (another vocabulary or width).
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        missing, unexpected = model.cls.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise ModelError(f"MLM head {path} does not fit the model ({str(err).splitlines()[0]}); delete it") from None
    if unexpected or set(missing) - {"predictions.decoder.weight"}:
        raise ModelError(f"MLM head {path} does not fit the model (missing {missing}, unexpected {unexpected})")
    model.tie_weights()
