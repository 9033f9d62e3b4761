"""`LoopConfig`: the plain values `train_loop_per_worker` runs from (one dict, shipped to every Ray worker).

Builders (`teacher.py`, later the supernet/student builders) make a `LoopConfig` from the spec and pass
`config.to_dict()` as `train_loop_config`; the loop rebuilds it with `LoopConfig.from_dict`, so a typo in a key
fails at once with the list of valid keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from raydistill.spec.schema import DataSpec, OptimSpec

# How a run executes, not what it trains: changing these never makes a checkpoint stale (`trainer.fit`).
RUN_CONTROL_KEYS = frozenset(
    {
        "num_threads", "use_gpu", "name", "log_every_steps", "eval_search", "run_dir", "local_run_dir",
        "stop_after_steps", "progress_file",
    }
)  # fmt: skip


@dataclass(frozen=True)
class LoopConfig:
    """What one training run does.

    Attributes:
        model: resolved model name: a local HF dir (absolute) or a hub name.
        task: task registry name.
        data: keyword arguments of `prepare_task_data` besides the task and tokenizer; a `seed` here carves the
            search split (default: `seed`), e.g. a student of another seed on the spec's split.
        optim: `OptimSpec` fields as a plain dict (epochs, max_steps, batch_size, learning_rate, ...).
        seed: seeds weights of new heads, dropout, and the shuffling of each epoch (seed + epoch).
        method: training-method registry name (`raydistill.methods_registry`).
        method_options: plain options handed to the method's `build` (`distill.methods`).
        num_threads: torch intra-op threads per worker; None leaves torch's setting alone.
        use_gpu: run on the worker's GPU (NCCL between workers) instead of the CPU (gloo).
        name: run name used in log lines.
        log_every_steps: rank 0 logs step/total, loss, lr and samples/s this often.
        eval_search: also score the search split at each evaluation (dev sets are always scored).
        run_dir: set by `fit`: the run directory `<storage_path>/<run_name>`; the loop resumes from the newest
            complete checkpoint in it (`checkpoint.resume_checkpoint_dir`).
        local_run_dir: set by `fit` for in-process runs (no Ray storage there): checkpoints are kept in this
            directory and the latest one is resumed from.
        stop_after_steps: stop (after checkpointing) once this global step is done, as a preemption would;
            for testing resume. None: run to the end.
        progress_file: set by `fit`: rank 0 appends its progress here for the driver's console
            (`training.progress`).
    """

    model: str
    task: str
    data: dict[str, Any] = field(default_factory=dict)
    optim: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    method: str = "finetune"
    method_options: dict[str, Any] = field(default_factory=dict)
    num_threads: int | None = None
    use_gpu: bool = False
    name: str = "train"
    log_every_steps: int = 50
    eval_search: bool = True
    run_dir: str | None = None
    local_run_dir: str | None = None
    stop_after_steps: int | None = None
    progress_file: str | None = None

    @property
    def optimizer(self) -> OptimSpec:
        """`optim` validated against the spec's `OptimSpec` (one definition of fields and defaults)."""
        return OptimSpec(**self.optim)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for `TorchTrainer(train_loop_config=...)`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LoopConfig:
        """Rebuild from `to_dict()` output; unknown keys raise a `TypeError` that lists the valid ones."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - valid)
        if unknown:
            raise TypeError(f"unknown loop config keys {unknown}; valid keys: {sorted(valid)}")
        return cls(**config)

    def with_updates(self, **changes: Any) -> LoopConfig:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


def data_kwargs(data: DataSpec) -> dict[str, Any]:
    """`prepare_task_data` keyword arguments (plain values) from the spec's `data` section."""
    columns = {k: v for k, v in data.columns.model_dump().items() if v is not None}
    return {
        "max_seq_length": data.max_seq_length,
        "source": data.source,
        "path": data.path,
        "hub_name": data.hub_name,
        "train_file": data.train_file,
        "dev_file": data.dev_file,
        "columns": columns or None,
        "max_train_examples": data.max_train_examples,
        "max_eval_examples": data.max_eval_examples,
        "search_fraction": data.search_split,
        "doc_stride": data.doc_stride,
        "max_query_length": data.max_query_length,
        "max_answer_length": data.max_answer_length,
        "n_best": data.n_best,
    }
