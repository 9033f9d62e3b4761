"""Data layer: task registry, local/hub loading, train/search/dev splits, tokenisation, collation, metrics.

No Ray, no Optuna, no spec objects: everything takes plain arguments. The trainer calls `prepare_task_data`.
"""

from __future__ import annotations

from raydistill.data.bundle import EvalSet, TaskData, prepare_task_data
from raydistill.data.collate import PadCollator
from raydistill.data.examples import Example, QAExample
from raydistill.data.features import FeatureDataset, encode_examples
from raydistill.data.hub import examples_from_records, load_hub_split, qa_examples_from_records
from raydistill.data.metrics import (
    CONSTANT,
    METRICS,
    NON_FINITE,
    Scores,
    accuracy,
    average_ranks,
    binary_f1,
    compute_metrics,
    matthews_corr,
    normalize_answer,
    output_note,
    pearson,
    spearman,
    squad_exact_match,
    squad_f1,
    squad_question_scores,
    squad_scores,
)
from raydistill.data.readers import peek_columns, read_csv, read_jsonl, read_squad, read_tsv
from raydistill.data.splits import SOURCES, Splits, carve_search, load_splits
from raydistill.data.squad import QAFeature, answer_positions, encode_squad, postprocess_qa
from raydistill.data.tasks import TASKS, LocalColumns, Task, get_task, register_task

__all__ = [
    "CONSTANT",
    "METRICS",
    "SOURCES",
    "TASKS",
    "EvalSet",
    "Example",
    "FeatureDataset",
    "LocalColumns",
    "NON_FINITE",
    "PadCollator",
    "QAExample",
    "QAFeature",
    "Scores",
    "Splits",
    "Task",
    "TaskData",
    "accuracy",
    "answer_positions",
    "average_ranks",
    "binary_f1",
    "carve_search",
    "compute_metrics",
    "encode_examples",
    "encode_squad",
    "examples_from_records",
    "get_task",
    "load_hub_split",
    "load_splits",
    "matthews_corr",
    "normalize_answer",
    "output_note",
    "pearson",
    "peek_columns",
    "postprocess_qa",
    "prepare_task_data",
    "qa_examples_from_records",
    "read_csv",
    "read_jsonl",
    "read_squad",
    "read_tsv",
    "register_task",
    "spearman",
    "squad_exact_match",
    "squad_f1",
    "squad_question_scores",
    "squad_scores",
]
