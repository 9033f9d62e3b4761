"""The real GLUE / ChnSentiCorp / SQuAD files of this machine load with the row counts of their README.

Skipped where the shared data folder is absent (CI elsewhere).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.data import get_task, read_squad, read_tsv

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no shared data at {DATA}")

COUNTS = [  # (folder, task, file, rows) from shared/data/README.md
    ("glue/SST-2", "sst2", "train.tsv", 67349),
    ("glue/SST-2", "sst2", "dev.tsv", 872),
    ("glue/MRPC", "mrpc", "train.tsv", 3668),
    ("glue/MRPC", "mrpc", "dev.tsv", 408),
    ("glue/RTE", "rte", "train.tsv", 2490),
    ("glue/RTE", "rte", "dev.tsv", 277),
    ("glue/CoLA", "cola", "train.tsv", 8551),
    ("glue/CoLA", "cola", "dev.tsv", 1043),
    ("glue/STS-B", "stsb", "train.tsv", 5749),
    ("glue/STS-B", "stsb", "dev.tsv", 1500),
    ("glue/QNLI", "qnli", "dev.tsv", 5463),
    ("chnsenticorp", "chnsenticorp", "train.tsv", 9600),
    ("chnsenticorp", "chnsenticorp", "dev.tsv", 1200),
]


@pytest.mark.parametrize(("folder", "task", "file", "rows"), COUNTS)
def test_real_tsv_row_counts(folder: str, task: str, file: str, rows: int) -> None:
    path = DATA / folder / file
    if not path.is_file():
        pytest.skip(f"{path} absent")
    t = get_task(task)
    examples = read_tsv(path, t)
    assert len(examples) == rows
    if t.kind == "classification":
        assert {e.label for e in examples} == set(range(t.num_labels))
    else:
        assert all(0.0 <= e.label <= 5.0 for e in examples)
    assert all(e.text_a for e in examples) and all((e.text_b is not None) == t.pairs for e in examples)


def test_real_squad_dev() -> None:
    path = DATA / "squad_v1.1" / "dev-v1.1.json"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    examples = read_squad(path)
    assert len(examples) == 10570 and len({e.title for e in examples}) == 48
    for ex in examples[:200]:
        for a in ex.answers:
            assert ex.context[a["answer_start"] : a["answer_start"] + len(a["text"])] == a["text"]
