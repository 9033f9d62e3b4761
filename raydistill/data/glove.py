"""GloVe word vectors and their cosine nearest neighbours (TinyBERT data augmentation, multi-piece words).

TinyBERT (Jiao et al. 2020, sec. 3.1, "data augmentation") replaces a word that the tokenizer splits into several
WordPieces by one of its K nearest GloVe neighbours under cosine similarity. `Glove.read` loads the plain GloVe
text format (`word v1 v2 ... vd` per line, e.g. `glove.6B.50d.txt`); `Glove.neighbours` answers many words with a
few matrix products.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raydistill.errors import DataError

__all__ = ["Glove"]


@dataclass(frozen=True)
class Glove:
    """Unit-normalised GloVe vectors.

    Attributes:
        words: the vocabulary, in file order (GloVe files are sorted by frequency).
        vectors: (V, d) float32, each row of unit L2 norm (a zero vector stays zero).
    """

    words: tuple[str, ...]
    vectors: np.ndarray

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    @classmethod
    def read(cls, path: str | Path, max_words: int | None = None) -> Glove:
        """Read a GloVe text file (`word` then d floats per line; the first occurrence of a word wins).

        Raises:
            DataError: a missing or empty file, or a line whose vector length differs from the first line's.
        """
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(
                f"GloVe file {str(path)!r} does not exist; give augment.glove_path, a GloVe text file such as "
                "glove.6B.50d.txt (one `word v1 ... vd` per line)"
            )
        words: list[str] = []
        rows: list[np.ndarray] = []
        seen: set[str] = set()
        with p.open(encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if len(parts) < 2:
                    continue
                word, values = parts[0], parts[1:]
                if rows and len(values) != rows[0].shape[0]:
                    raise DataError(
                        f"{p}:{line_no}: {len(values)} numbers, the first line has {rows[0].shape[0]}; "
                        "give a GloVe text file (`word v1 ... vd`, the same d on every line)"
                    )
                if word in seen:
                    continue
                try:
                    rows.append(np.asarray(values, dtype=np.float32))
                except ValueError:
                    raise DataError(f"{p}:{line_no}: not a number after the word; a GloVe text file") from None
                words.append(word)
                seen.add(word)
                if max_words is not None and len(words) >= max_words:
                    break
        if not rows:
            raise DataError(f"{p}: no word vectors found; give a GloVe text file (`word v1 ... vd` per line)")
        return cls.from_vectors(words, np.stack(rows))

    @classmethod
    def from_vectors(cls, words: Sequence[str], vectors: np.ndarray) -> Glove:
        """From raw vectors (V, d): rows are normalised to unit length."""
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # (V, 1)
        return cls(tuple(words), vectors / np.maximum(norms, 1e-12))

    def neighbours(self, words: Iterable[str], k: int, chunk: int = 512) -> dict[str, list[str]]:
        """The `k` nearest words of each known word by cosine similarity, best first, the word itself excluded.

        A word not in the vocabulary is absent from the result. Ties keep file order (more frequent first).
        """
        index = self.index
        known = sorted({w for w in words if w in index})
        out: dict[str, list[str]] = {}
        take = min(k + 1, len(self.words))
        for start in range(0, len(known), chunk):
            batch = known[start : start + chunk]
            rows = np.array([index[w] for w in batch])  # (b,)
            sims = self.vectors[rows] @ self.vectors.T  # (b, V) cosine similarities
            sims[np.arange(len(batch)), rows] = -np.inf  # never the word itself
            top = np.argpartition(-sims, take - 1, axis=1)[:, :take]  # (b, take), unordered
            for i, word in enumerate(batch):
                best = sorted((-float(sims[i, j]), int(j)) for j in top[i])  # ties: file order
                out[word] = [self.words[j] for _, j in best if j != rows[i]][:k]
        return out
