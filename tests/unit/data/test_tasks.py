from __future__ import annotations

import pytest

from raydistill.data import TASKS, Task, get_task, register_task
from raydistill.errors import DataError

GLUE = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"]


def test_registry_holds_glue_chnsenticorp_squad() -> None:
    assert set(GLUE + ["chnsenticorp", "squad"]) <= set(TASKS)
    for name in GLUE:
        assert get_task(name).hub_path == "nyu-mll/glue"
        assert get_task(name).hub_config == name


@pytest.mark.parametrize(
    ("name", "main", "num_labels", "pairs"),
    [
        ("cola", "mcc", 2, False),
        ("sst2", "accuracy", 2, False),
        ("mrpc", "f1", 2, True),
        ("qqp", "f1", 2, True),
        ("stsb", "pearson", 1, True),
        ("mnli", "accuracy", 3, True),
        ("chnsenticorp", "accuracy", 2, False),
        ("squad", "f1", 2, True),
    ],
)
def test_task_facts(name: str, main: str, num_labels: int, pairs: bool) -> None:
    task = get_task(name)
    assert task.main_metric == main
    assert task.num_labels == num_labels
    assert task.pairs is pairs


def test_glue_label_order_and_dev_sets() -> None:
    assert get_task("rte").labels == ("entailment", "not_entailment")
    assert get_task("mnli").labels == ("entailment", "neutral", "contradiction")
    assert list(get_task("mnli").dev_splits) == ["dev_matched", "dev_mismatched"]
    assert get_task("mnli").main_dev == "dev_matched"
    assert get_task("stsb").metrics == ("pearson", "spearmanr")
    assert get_task("squad").metrics == ("f1", "exact_match")
    assert get_task("stsb").kind == "regression" and get_task("squad").kind == "qa"


def test_unknown_task_lists_names_and_suggests() -> None:
    with pytest.raises(DataError) as err:
        get_task("sst-2")
    msg = str(err.value)
    assert "'sst-2'" in msg and "Did you mean 'sst2'" in msg and "mnli" in msg and "squad" in msg


def test_register_task_and_validation() -> None:
    task = Task(
        "toy",
        "classification",
        "text",
        None,
        ("no", "yes"),
        ("accuracy",),
        "accuracy",
        "me/toy",
        None,
        {"dev": "validation"},
        "glue",
    )
    try:
        assert register_task(task) is task and get_task("toy") is task
        assert hash(task) == hash(get_task("toy"))
    finally:
        TASKS.pop("toy")
    with pytest.raises(ValueError, match="main_metric"):
        Task(
            "bad",
            "classification",
            "t",
            None,
            ("a", "b"),
            ("accuracy",),
            "f1",
            "x",
            None,
            {"dev": "v"},
            "glue",
        )
    with pytest.raises(ValueError, match="label names"):
        Task(
            "bad",
            "classification",
            "t",
            None,
            None,
            ("accuracy",),
            "accuracy",
            "x",
            None,
            {"dev": "v"},
            "glue",
        )
