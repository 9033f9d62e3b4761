"""`python -m benchmarks.run --data ../shared/data --out reports/benchmarks [--only NAME ...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.budget_rule import run_budget_rule
from benchmarks.common import guarded
from benchmarks.sampler_study import run_sampler_study
from benchmarks.search_sst2 import run_search_sst2
from benchmarks.squad_length import run_squad_length
from benchmarks.sst2_joint import run_sst2_joint
from benchmarks.students_sst2 import run_students_sst2
from benchmarks.supernet_sst2 import run_supernet_sst2
from benchmarks.teacher_sst2 import run_teacher_sst2

BENCHMARKS = {  # in dependency order: supernet_sst2 reuses teacher_sst2's fine-tuned teacher
    "teacher_sst2": run_teacher_sst2,
    "supernet_sst2": run_supernet_sst2,
    "search_sst2": run_search_sst2,  # searches the supernet_sst2 supernet
    "budget_rule": run_budget_rule,  # its own short supernet from the shared fine-tuned MiniLM-L6 teacher
    "students_sst2": run_students_sst2,  # 3-layer students (searches/sst2_students.yaml) x 3 seeds, shared teacher
}
STUDIES = {  # run only when named with --only: how a default was chosen, not a target check
    "sampler_study": run_sampler_study,  # on the supernet_sst2 supernet
    "sst2_joint": run_sst2_joint,  # its own two supernets from ../shared/models/minilm-l6-sst2; hours
    "squad_length": run_squad_length,  # searches/squad_length.yaml: the length and joint runs; ~2.2 h
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with glue/SST-2 etc. (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS | STUDIES), help="run only these benchmarks")
    parser.add_argument("--work", type=Path, default=Path("runs/bench"), help="scratch dir for runs")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: --data {args.data} is not a directory (expected ../shared/data with glue/SST-2)", file=sys.stderr)
        return 2
    for name in args.only or list(BENCHMARKS):
        print(f"== benchmark {name}", flush=True)
        (BENCHMARKS | STUDIES)[name](data_root=args.data.resolve(), out_dir=args.out, work_dir=args.work.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
