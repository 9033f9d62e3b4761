"""TinyBERT data augmentation (Jiao et al. 2020, sec. 3.1 and Alg. 1): N augmented copies of each example.

Each sentence is cut into words the tokenizer's own way (its normaliser, then its pre-tokenizer: lower-cased and
punctuation split off for an uncased BERT), so augmented text stays in the tokenizer's normal form and the words
are joined by single spaces. An eligible word (it holds a letter or digit and is not a stopword) gets candidates:

- a word that is ONE WordPiece: the masked LM's top-K predictions at its position, with the word masked in
  context; the input is `[CLS] masked sentence [SEP] original sentence [SEP]` (segments 0 / 1), as the authors'
  code does; candidates are whole-word vocabulary entries in normal form, never the word itself;
- a word of SEVERAL WordPieces: its K nearest GloVe neighbours (cosine, `data.glove`); a word GloVe does not
  know is kept.

Copy c of an example replaces each eligible word with probability p (0.4 in the paper) by a uniform choice among
its candidates. Randomness comes from a generator seeded with `(seed, guid, c)` alone, so the output does not
depend on batching or order. For a sentence pair, copy c changes only ONE sentence: text_a when c is even, text_b
when c is odd; the other is kept verbatim. All masked positions of a chunk of examples go through the MLM in
forwards of `batch_size` rows (one row per masked word), not one forward per word.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from raydistill.data.examples import Example
from raydistill.data.glove import Glove
from raydistill.data.readers import read_jsonl
from raydistill.data.tasks import Task
from raydistill.errors import DataError

__all__ = ["STOPWORDS", "AugmentOptions", "SentencePlan", "augment_examples", "mlm_candidates", "plan_sentence",
           "default_copies", "read_augmented", "split_words", "write_augmented"]  # fmt: skip

# Function words the authors' code never replaces (a short English list; other languages: give your own).
_STOPWORDS = (
    "i me my myself we our ours you your he him his she her it its they them their what which who whom this that "
    "these those am is are was were be been being have has had do does did a an the and but if or because as "
    "until while of at by for with about against between into through during before after to from up down in "
    "out on off over under again then once here there when where why how all any both each few more most other "
    "some such no nor not only own same so than too very s t can will just don should now"
)
STOPWORDS = frozenset(_STOPWORDS.split())
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AugmentOptions:
    """What `augment_examples` does (defaults: the paper's p and K; N = 20 is its SST-2 / QNLI setting).

    Attributes:
        copies: N, augmented copies tried per example (duplicates of the original or of an earlier copy are
            dropped, as the authors' code does).
        p: probability of replacing each eligible word.
        top_k: K, MLM predictions / GloVe neighbours per word.
        seed: the augmentation's seed.
        batch_size: MLM rows (masked words) per forward.
        max_length: MLM input length cap; a longer sentence is cut to a window around the masked word.
        chunk_examples: examples planned and sent to the MLM together.
        stopwords: words never replaced.
    """

    copies: int = 20
    p: float = 0.4
    top_k: int = 15
    seed: int = 42
    batch_size: int = 64
    max_length: int = 128
    chunk_examples: int = 64
    stopwords: frozenset[str] = field(default=STOPWORDS)

    def __post_init__(self) -> None:
        if self.copies < 1 or self.top_k < 1 or self.batch_size < 1 or self.chunk_examples < 1:
            raise DataError("augmentation: copies, top_k, batch_size and chunk_examples must be >= 1")
        if not 0 <= self.p <= 1:
            raise DataError(f"augmentation: p={self.p} is not a probability; give 0 <= p <= 1, e.g. 0.4")
        if self.max_length < 8:
            raise DataError(f"augmentation: max_length={self.max_length} is too short; give >= 8")


def split_words(text: str, tokenizer: Any) -> list[str]:
    """The words of `text` in the tokenizer's normal form (its normaliser, then its pre-tokenizer)."""
    backend = _backend(tokenizer)
    normal = backend.normalizer.normalize_str(text) if backend.normalizer is not None else text
    if backend.pre_tokenizer is None:
        return normal.split()
    return [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(normal)]


def _backend(tokenizer: Any) -> Any:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise DataError(
            f"augmentation needs a fast (Rust) tokenizer; {type(tokenizer).__name__} is not one; "
            "load it with AutoTokenizer (use_fast=True)"
        )
    return backend


def _pieces(word: str, tokenizer: Any) -> list[int]:
    return [t.id for t in _backend(tokenizer).model.tokenize(word)]


@dataclass
class SentencePlan:
    """One sentence: its words, their WordPiece ids, and what each eligible word draws its candidates from.

    Attributes:
        words: the words (normal form).
        pieces: WordPiece ids per word.
        mlm: word index -> flat piece index, for eligible single-piece words.
        glove: eligible multi-piece words' indices.
        candidates: word index -> candidates, once looked up.
    """

    words: list[str]
    pieces: list[list[int]]
    mlm: dict[int, int] = field(default_factory=dict)
    glove: list[int] = field(default_factory=list)
    candidates: dict[int, list[str]] = field(default_factory=dict)

    @property
    def flat(self) -> list[int]:
        return [i for p in self.pieces for i in p]


def plan_sentence(text: str, tokenizer: Any, stopwords: frozenset[str] = STOPWORDS) -> SentencePlan:
    """Cut `text` into words and sort its eligible words into MLM (one piece) and GloVe (several) words."""
    words = split_words(text, tokenizer)
    plan = SentencePlan(words, [_pieces(w, tokenizer) for w in words])
    offset = 0
    for w, (word, ids) in enumerate(zip(words, plan.pieces, strict=True)):
        if any(ch.isalnum() for ch in word) and word.lower() not in stopwords:
            if len(ids) == 1 and ids[0] != tokenizer.unk_token_id:
                plan.mlm[w] = offset
            elif len(ids) > 1:
                plan.glove.append(w)
        offset += len(ids)
    return plan


def mlm_input(flat: Sequence[int], position: int, tokenizer: Any, max_length: int) -> tuple[list[int], int]:
    """`[CLS] masked [SEP] original [SEP]` ids for masking `flat[position]`, and the mask's index in them.

    A sentence too long for `max_length` is cut to the same window of both copies, around the mask.
    """
    half = (max_length - 3) // 2
    start = min(max(0, position - half // 2), max(0, len(flat) - half))
    window = list(flat[start : start + half])
    masked = list(window)
    masked[position - start] = tokenizer.mask_token_id
    ids = [tokenizer.cls_token_id, *masked, tokenizer.sep_token_id, *window, tokenizer.sep_token_id]
    return ids, 1 + position - start


def allowed_candidates(tokenizer: Any) -> torch.Tensor:
    """(V,) bool: vocabulary entries an MLM may propose: whole words in normal form, no special or `##` piece."""
    backend = _backend(tokenizer)
    special = set(tokenizer.all_special_ids)
    allowed = torch.zeros(len(tokenizer), dtype=torch.bool)
    for token, i in tokenizer.get_vocab().items():
        if i in special or i >= len(allowed) or token.startswith("##") or not any(c.isalnum() for c in token):
            continue
        allowed[i] = split_words(token, tokenizer) == [token] and (
            backend.normalizer is None or backend.normalizer.normalize_str(token) == token
        )
    return allowed


@torch.no_grad()
def mlm_candidates(
    model: Any,
    rows: Sequence[tuple[list[int], int, int]],
    tokenizer: Any,
    top_k: int,
    batch_size: int,
    allowed: torch.Tensor | None = None,
) -> list[list[str]]:
    """The top-`top_k` allowed tokens at each row's masked position, best first, the original token excluded.

    Args:
        model: a `BertForMaskedLM` (or any model whose output has `.logits`), in eval mode.
        rows: (input ids, mask index, original token id) per masked word (see `mlm_input`).
        batch_size: rows per forward.
        allowed: `allowed_candidates(tokenizer)` (computed when None).
    """
    allowed = allowed_candidates(tokenizer) if allowed is None else allowed
    device = next(model.parameters()).device
    out: list[list[str]] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        length = max(len(ids) for ids, _, _ in chunk)
        input_ids = torch.full((len(chunk), length), tokenizer.pad_token_id, dtype=torch.long)  # (b, L)
        attention = torch.zeros_like(input_ids)
        types = torch.zeros_like(input_ids)
        for r, (ids, _, _) in enumerate(chunk):
            input_ids[r, : len(ids)] = torch.tensor(ids)
            attention[r, : len(ids)] = 1
            types[r, ids.index(tokenizer.sep_token_id) + 1 : len(ids)] = 1  # the original sentence: segment 1
        positions = torch.tensor([pos for _, pos, _ in chunk])  # (b,)
        logits = _masked_logits(model, input_ids.to(device), attention.to(device), types.to(device), positions)
        logits = logits.float().cpu().masked_fill(~allowed[: logits.shape[1]], -torch.inf)  # (b, V)
        logits[torch.arange(len(chunk)), torch.tensor([orig for _, _, orig in chunk])] = -torch.inf
        top = logits.topk(min(top_k, int(allowed.sum())), dim=1)  # values, indices: (b, K)
        for values, ids in zip(top.values, top.indices, strict=True):
            out.append(tokenizer.convert_ids_to_tokens([int(i) for v, i in zip(values, ids, strict=True)
                                                        if torch.isfinite(v)]))  # fmt: skip
    return out


def _masked_logits(
    model: Any, input_ids: torch.Tensor, attention: torch.Tensor, types: torch.Tensor, positions: torch.Tensor
) -> torch.Tensor:
    """(b, V) MLM logits at one position per row; a BERT MLM runs its head on those positions only."""
    rows = torch.arange(len(positions))
    if hasattr(model, "bert") and hasattr(model, "cls"):
        hidden = model.bert(input_ids=input_ids, attention_mask=attention, token_type_ids=types)[0]  # (b, L, H)
        return model.cls(hidden[rows, positions.to(hidden.device)])  # (b, V)
    logits = model(input_ids=input_ids, attention_mask=attention, token_type_ids=types).logits  # (b, L, V)
    return logits[rows, positions.to(logits.device)]


def _rng(seed: int, guid: str, copy: int) -> random.Random:
    digest = hashlib.blake2b(f"{seed}:{guid}:{copy}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _sides(example: Example, copies: int) -> list[int]:
    return [0] if example.text_b is None else sorted({c % 2 for c in range(copies)})


def _fill_candidates(
    plans: list[SentencePlan], model: Any, glove: Glove | None, tokenizer: Any, opt: AugmentOptions,
    allowed: torch.Tensor, neighbours: dict[str, list[str]],
) -> None:  # fmt: skip
    """Look up every plan's candidates: one batched MLM pass for all single-piece words, GloVe for the rest."""
    rows, owners = [], []
    for plan in plans:
        flat = plan.flat
        for w, position in plan.mlm.items():
            ids, mask_at = mlm_input(flat, position, tokenizer, opt.max_length)
            rows.append((ids, mask_at, flat[position]))
            owners.append((plan, w))
    for (plan, w), found in zip(owners, mlm_candidates(model, rows, tokenizer, opt.top_k, opt.batch_size,
                                                       allowed), strict=True):  # fmt: skip
        plan.candidates[w] = found
    if glove is None:
        return
    wanted = {plan.words[w].lower() for plan in plans for w in plan.glove} - set(neighbours)
    for word, near in glove.neighbours(wanted, 4 * opt.top_k).items():
        neighbours[word] = [n for n in near if split_words(n, tokenizer) == [n] and n != word][: opt.top_k]
    for plan in plans:
        for w in plan.glove:
            near = neighbours.get(plan.words[w].lower(), [])
            if near:
                plan.candidates[w] = [n for n in near if n != plan.words[w]]


def sample_copy(plan: SentencePlan, p: float, rng: random.Random) -> str:
    """One augmented sentence: each word with candidates replaced with probability `p` (Alg. 1)."""
    words = list(plan.words)
    for w in sorted(plan.candidates):
        if rng.random() < p and plan.candidates[w]:
            words[w] = rng.choice(plan.candidates[w])
    return " ".join(words)


def augment_examples(
    examples: Sequence[Example],
    tokenizer: Any,
    model: Any,
    glove: Glove | None,
    options: AugmentOptions,
    progress: Progress | None = None,
) -> Iterator[tuple[Example, list[Example]]]:
    """Each example with its augmented copies (guids `<guid>-aug<c>`, the label kept), in input order.

    Args:
        model: the masked LM (`mlm_candidates`), in eval mode.
        glove: GloVe vectors for multi-piece words; None keeps those words.
        progress: called with (examples done, total) after each chunk.
    """
    allowed = allowed_candidates(tokenizer)
    neighbours: dict[str, list[str]] = {}
    for start in range(0, len(examples), options.chunk_examples):
        chunk = examples[start : start + options.chunk_examples]
        plans = [
            {side: plan_sentence(ex.text_b if side else ex.text_a, tokenizer, options.stopwords)  # type: ignore[arg-type]
             for side in _sides(ex, options.copies)}
            for ex in chunk
        ]  # fmt: skip
        _fill_candidates([p for ps in plans for p in ps.values()], model, glove, tokenizer, options, allowed,
                         neighbours)  # fmt: skip
        for ex, ps in zip(chunk, plans, strict=True):
            yield ex, _copies(ex, ps, options)
        if progress is not None:
            progress(start + len(chunk), len(examples))


def _copies(ex: Example, plans: dict[int, SentencePlan], opt: AugmentOptions) -> list[Example]:
    """The distinct copies of `ex` that differ from it (copy c changes side c % 2 of a pair)."""
    seen = {(" ".join(plans[0].words), ex.text_b)} if 0 in plans else set()
    if 1 in plans:
        seen.add((ex.text_a, " ".join(plans[1].words)))
    out = []
    for c in range(opt.copies):
        side = 0 if ex.text_b is None else c % 2
        text = sample_copy(plans[side], opt.p, _rng(opt.seed, ex.guid, c))
        pair = (text, ex.text_b) if side == 0 else (ex.text_a, text)
        if pair not in seen:
            seen.add(pair)
            out.append(Example(f"{ex.guid}-aug{c}", pair[0], pair[1], ex.label))
    return out


def write_augmented(path: Path, rows: Iterator[tuple[Example, list[Example]]], task: Task) -> dict[str, int]:
    """Write each example and then its copies as JSON Lines that `read_split` / `read_jsonl` read back
    (keys: the task's hub column names and `label`, plus `guid` and `source`, the original's guid).

    The file appears only when complete (written beside it, then renamed). Returns the counts
    `{"examples": originals, "augmented": copies}`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    counts = {"examples": 0, "augmented": 0}
    with partial.open("w", encoding="utf-8") as f:
        for original, copies in rows:
            for ex in (original, *copies):
                record: dict[str, Any] = {task.text_a: ex.text_a}
                if task.text_b is not None:
                    record[task.text_b] = ex.text_b
                record |= {"label": ex.label, "guid": ex.guid, "source": original.guid}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            counts["examples"] += 1
            counts["augmented"] += len(copies)
    partial.replace(path)
    return counts


def read_augmented(path: Path, task: Task) -> list[Example]:
    """The examples of a file written by `write_augmented`, with their own guids (`<guid>-aug<c>` for copies).

    Raises:
        DataError: as `read_jsonl` (missing file, bad line, unknown label...).
    """
    examples = read_jsonl(path, task, "train")
    with path.open(encoding="utf-8") as f:
        guids = [json.loads(line)["guid"] for line in f if line.strip()]
    return [dataclasses.replace(ex, guid=guid) for ex, guid in zip(examples, guids, strict=True)]


def default_copies(task_name: str) -> int:
    """N of the paper's experiments: 10 for MNLI and QQP, 20 for SST-2 and QNLI, 30 for the other tasks."""
    return {"mnli": 10, "qqp": 10, "sst2": 20, "qnli": 20}.get(task_name, 30)
