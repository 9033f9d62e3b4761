"""Raw examples, as read from a file or the hub, before tokenisation."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Example:
    """One sentence (pair) classification or regression example.

    Attributes:
        guid: unique id within the task, e.g. "train-17" (split name + 0-based row index).
        text_a: first sentence.
        text_b: second sentence, or None for single-sentence tasks.
        label: class id (int), regression score (float), or None when unlabelled.
    """

    guid: str
    text_a: str
    text_b: str | None
    label: int | float | None


@dataclass
class QAExample:
    """One extractive QA question (SQuAD v1.1).

    Attributes:
        qid: the question id (unique across the dataset).
        question: the question text.
        context: the paragraph holding the answer.
        answers: gold answers, each `{"text": str, "answer_start": int}` (character offset into `context`).
        title: the article the paragraph comes from (splits keep an article's questions together).
    """

    qid: str
    question: str
    context: str
    answers: list[dict] = field(default_factory=list)
    title: str = ""
