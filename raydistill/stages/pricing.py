"""`Pricer`: FLOPs and params of a run's models at the run's one cost length, as points-table columns.

Every stage that writes points prices its models here (`models.flops`, analytic, batch 1, `Spec.cost_seq_length`
tokens), so the teacher, the grid, the trials and the picks share one length and one formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.spec import Spec

__all__ = ["Pricer"]


@dataclass(frozen=True)
class Pricer:
    """Prices Archs of one model config (`config`: a `BertConfig`) for one task head."""

    config: Any
    seq_length: int
    num_labels: int
    head: str

    @classmethod
    def for_model(cls, spec: Spec, model_dir: Path) -> Pricer:
        """The pricer of the model saved at `model_dir` (its `config.json`) for the spec's task and cost length."""
        from transformers import AutoConfig

        from raydistill.data import get_task

        task = get_task(spec.task)
        head = "qa" if task.kind == "qa" else "classification"
        config = AutoConfig.from_pretrained(str(model_dir))
        return cls(config, spec.cost_seq_length, task.num_labels, head)

    @property
    def full_arch(self) -> Any:
        """The full model's Arch."""
        from raydistill.models.arch import Arch

        return Arch.for_config(self.config)

    def columns(self, arch: Any) -> dict[str, Any]:
        """`arch_id`, `arch_json`, `seq_length`, `flops`, `encoder_flops`, `flops_ratio`, `params` of `arch`."""
        from raydistill.models.flops import count_flops, params

        cost = count_flops(arch, self.config, self.seq_length, self.num_labels, self.head)  # type: ignore[arg-type]
        full = count_flops(self.full_arch, self.config, self.seq_length, self.num_labels, self.head)  # type: ignore[arg-type]
        return {
            "arch_id": arch.id,
            "arch_json": arch.to_json(),
            "seq_length": self.seq_length,
            "flops": cost.flops,
            "encoder_flops": 2 * cost.encoder_macs,
            "flops_ratio": cost.flops / full.flops,
            "params": params(arch, self.config, self.num_labels, self.head),  # type: ignore[arg-type]
        }

    def own_model_columns(self, teacher: Pricer) -> dict[str, Any]:
        """The columns of a model of its own shape (a student: this pricer's config, whole): no Arch, its size as
        `config_json`, `flops_ratio` against `teacher`'s full model at the same length."""
        import json

        columns = self.columns(self.full_arch)
        full = teacher.columns(teacher.full_arch)
        c = self.config
        size = {"layers": c.num_hidden_layers, "hidden": c.hidden_size, "heads": c.num_attention_heads,
                "ffn": c.intermediate_size}  # fmt: skip
        return columns | {
            "arch_id": "",
            "arch_json": "",
            "config_json": json.dumps(size),
            "flops_ratio": columns["flops"] / full["flops"],
        }
