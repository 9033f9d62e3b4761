"""The search spec: one YAML file -> frozen pydantic models (`extra="forbid"`).

Field-level rules live on the fields; rules that need the task registry (does the task need sentence pairs? which
metric is "main"?) live in `spec/rules.py`, so this module only describes the shape of a spec.

Defaults follow the papers (ALGORITHMS.md): DynaBERT widths/depths, LAT length-drop bound 0.2 with 2 sandwich
models, TinyBERT augmentation ratios, PKD temperature/alpha/beta grids.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, field_validator, model_validator

from raydistill.spec.schema_base import (
    MAX_SEED as MAX_SEED,  # re-exported: the spec's names stay importable here
)
from raydistill.spec.schema_base import NAME_RE, Fraction, OptimSpec, check_seed
from raydistill.spec.schema_base import Frozen as _Frozen
from raydistill.spec.students import GeneralDistillSpec as GeneralDistillSpec
from raydistill.spec.students import StudentShapeSpec as StudentShapeSpec
from raydistill.spec.students import StudentSpec


class ColumnsSpec(_Frozen):
    """Column mapping for generic CSV/JSONL files (and for overriding a task's defaults)."""

    text_a: str | None = None
    text_b: str | None = None
    label: str | None = None


class DataSpec(_Frozen):
    """Where the task's data comes from and how it is tokenised."""

    source: Literal["auto", "hub", "glue", "chnsenticorp", "squad", "csv", "jsonl"] = Field(
        "auto", description="auto: `path` if given (format guessed from the task), else the HF hub"
    )
    path: str | None = Field(None, description="local dir (GLUE/ChnSentiCorp TSV) or file/dir (SQuAD, CSV, JSONL)")
    hub_name: str | None = Field(None, description="HF hub dataset (default: the task's own, e.g. nyu-mll/glue)")
    train_file: str | None = Field(None, description="file name inside `path` (default per format)")
    dev_file: str | None = None
    columns: ColumnsSpec = ColumnsSpec()
    max_seq_length: int = Field(128, ge=8, le=4096)
    max_train_examples: int | None = Field(None, gt=0)
    max_eval_examples: int | None = Field(None, gt=0)
    search_split: float = Field(
        0.1, gt=0, lt=1, description="fraction of train held out (deterministically) as the search objective"
    )
    doc_stride: int = Field(128, gt=0, description="SQuAD: overlap between windows of a long context")
    max_query_length: int = Field(64, gt=0)
    max_answer_length: int = Field(30, gt=0)
    n_best: int = Field(20, gt=0)

    @model_validator(mode="after")
    def _local_needs_path(self) -> DataSpec:
        if self.source in ("glue", "chnsenticorp", "squad", "csv", "jsonl") and not self.path:
            raise ValueError(f"source {self.source!r} reads local files; give data.path")
        if self.source == "hub" and self.path:
            raise ValueError("source 'hub' reads from the HF hub; drop data.path or use a local source")
        return self


class TeacherSpec(_Frozen):
    """The full model that is fine-tuned, then distilled from."""

    model: str = Field(description="HF hub name (e.g. bert-base-uncased), a local HF dir, or 'minilm-l6' (packaged)")
    finetuned: bool = Field(False, description="true: the model is already fine-tuned; only evaluate it")
    method: str = Field(
        "finetune",
        description="training method (a name in raydistill.methods_registry) that trains the full model on the "
        "task's data; finetune: task fine-tuning",
    )
    train: OptimSpec = OptimSpec()


class LossWeights(_Frozen):
    """Distillation loss weights (DynaBERT eq. 2/3; OFA-BERT uses hidden=0.1)."""

    logits: float = Field(1.0, ge=0)
    hidden: float = Field(1.0, ge=0)
    embedding: float = Field(0.0, ge=0)
    attention: float = Field(0.0, ge=0)
    task: float = Field(0.0, ge=0, description="hard-label task loss on top of distillation")


class LengthSpec(_Frozen):
    """LengthDrop (LAT / Dynamic-TinyBERT) training of the length-adaptive supernet."""

    enabled: bool = False
    length_drop_ratio_bound: float = Field(0.2, gt=0, lt=1, description="r in n_i ~ U[ceil(n_{i-1}(1-r)), n_{i-1}]")
    num_sandwich: int = Field(2, ge=0)
    layer_drop_prob: float = Field(0.2, ge=0, lt=1)
    hidden_weight: float = Field(
        0.0, ge=0, description="DynaBERT hidden-state MSE per kept layer on the sub-models (0: LAT's logits-only KL)"
    )


class SupernetSpec(_Frozen):
    """Width/depth-adaptive supernet (DynaBERT / once-for-all) and the optional length axis."""

    enabled: bool = True
    method: str = Field(
        "supernet",
        description="training method (a name in raydistill.methods_registry) that trains sub-networks; "
        "supernet: DynaBERT distillation of the (width, depth) grid, with the settings below",
    )
    widths: list[Fraction] = Field(default_factory=lambda: [1.0, 0.75, 0.5, 0.25])
    depths: list[Fraction] = Field(default_factory=lambda: [1.0, 0.75, 0.5])
    reorder: bool = Field(True, description="importance-reorder heads and neurons before training (DynaBERT)")
    importance_examples: int = Field(2000, gt=0, description="train examples used to score importance")
    sampling: Literal["all", "sandwich", "layerwise"] = Field(
        "all",
        description="all (width, depth) pairs per batch, sandwich (largest + smallest + random pairs), or "
        "layerwise (sandwich whose random sub-networks mix widths across layers, as the layerwise search does)",
    )
    num_random: int = Field(2, ge=0, description="sandwich/layerwise: random sub-networks besides largest and smallest")
    teacher_mode: Literal["full", "same_width"] = "full"
    temperature: float = Field(1.0, gt=0)
    loss: LossWeights = LossWeights()
    train: OptimSpec = OptimSpec(epochs=1.0)
    length: LengthSpec = LengthSpec()

    @field_validator("widths", "depths")
    @classmethod
    def _sorted_with_one(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("must not be empty; give fractions in (0, 1] including 1.0")
        if 1.0 not in v:
            raise ValueError(f"{v} must contain 1.0 (the full model has the teacher's shape); e.g. [1.0, 0.75, 0.5]")
        if len(set(v)) != len(v):
            raise ValueError(f"{v} has duplicates; list each fraction in (0, 1] once")
        return sorted(v, reverse=True)


class RetrainSpec(_Frozen):
    """Re-train each chosen sub-network by distillation from the teacher after the search."""

    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(2e-5, gt=0, lt=1)
    method: str = Field(
        "kd",
        description="training method (a name in raydistill.methods_registry) that trains each chosen "
        "sub-network; kd: distillation from the teacher's logits",
    )


class LatencyObjectiveSpec(_Frozen):
    """How `search.objective: latency` times each sub-network (batch 1 and 32, at the cost length)."""

    threads: int = Field(1, gt=0, description="torch threads of every timed call (stated in the report)")
    warmup: int = Field(3, ge=0, description="untimed calls before timing each batch size")
    repeats: int = Field(10, gt=0, description="timed calls per batch size; the median is kept")


class SearchSpec(_Frozen):
    """Multi-objective search (metric vs FLOPs, or vs measured latency) over sub-networks of the trained supernet."""

    enabled: bool = True
    space: str = Field(
        "width_depth", description="search-space registry name: width_depth | layerwise | length | joint"
    )
    sampler: Literal["nsga2", "tpe", "random", "evolution", "gp", "auto"] = Field(
        "nsga2",
        description="nsga2 | tpe | random | evolution (LAT) | gp (Optuna's GPSampler) | auto (gp below 250 "
        "trials, else nsga2)",
    )
    objective: Literal["flops", "latency"] = Field(
        "flops",
        description="second objective: flops (analytic FLOPs ratio) | latency (measured CPU latency ratio of "
        "the materialised sub-network to the full model, batch 1 and 32); budgets stay FLOPs budgets",
    )
    latency: LatencyObjectiveSpec = LatencyObjectiveSpec()
    num_trials: int = Field(100, gt=0)
    budgets: list[Fraction] = Field(default_factory=lambda: [0.25, 0.5, 0.75])
    max_search_examples: int | None = Field(None, gt=0, description="cap on search-split examples per evaluation")
    pareto_eval_cap: int = Field(20, ge=0, description="at most this many Pareto points are evaluated on dev")
    population_size: int | None = Field(
        None, gt=1, description="NSGA-II / evolution population (default: num_trials // 10, at least 8)"
    )
    seed: int | None = Field(
        None, description="sampler seed (default: the top-level seed, which also carves the search split)"
    )
    start_from_grid: bool = Field(
        True, description="evaluate the supernet's uniform (width, depth) grid first, as the first trials"
    )
    retrain: RetrainSpec | None = None
    max_failures: int = Field(
        2,
        ge=0,
        description="retries of a trial whose Ray actor or node died (a trial that raised is not retried: "
        "it is recorded with status error)",
    )

    _seed = field_validator("seed", mode="before")(check_seed)

    @field_validator("budgets")
    @classmethod
    def _ascending(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("must not be empty; give fractions of teacher FLOPs such as [0.25, 0.5, 0.75]")
        if any(later <= earlier for earlier, later in pairwise(v)):
            raise ValueError(f"{v} is not strictly ascending; give fractions of teacher FLOPs such as [0.25, 0.5, 0.75]")
        return v


class AugmentSpec(_Frozen):
    """TinyBERT data augmentation of the training examples left after the search split is carved (stage
    `augment`; `data.augment`). Off by default."""

    enabled: bool = False
    copies: int | None = Field(
        None, gt=0, description="N augmented copies per example (default: the paper's, 10 MNLI/QQP, 20 SST-2/QNLI, 30 else)"
    )
    p: float = Field(0.4, ge=0, le=1, description="probability of replacing each eligible word")
    top_k: int = Field(15, gt=0, description="MLM predictions / GloVe neighbours per word")
    glove_path: str | None = Field(None, description="GloVe text file (word v1 ... vd per line) for multi-piece words")
    mlm_model: str | None = Field(None, description="the masked LM (default: teacher.model); its own head if it has one")
    mlm_corpus: str | None = Field(
        None, description="plain-text file (one sentence a line) to fit an MLM head on (default: the train text)"
    )
    mlm_steps: int = Field(300, ge=0, description="steps of fitting an MLM head when the checkpoint has none")
    max_examples: int | None = Field(None, gt=0, description="augment only the first N training examples")
    batch_size: int = Field(64, gt=0, description="MLM rows (masked words) per forward")


class CostSpec(_Frozen):
    """How every model of a run is priced: one sequence length for all FLOPs (teacher, grid, trials, students)."""

    seq_length: int | None = Field(
        None, gt=0, description="sequence length every FLOPs figure is counted at (default data.max_seq_length)"
    )


class ExportSpec(_Frozen):
    """Export of the best sub-network per budget."""

    enabled: bool = True
    formats: list[Literal["hf", "onnx"]] = Field(default_factory=lambda: ["hf", "onnx"])  # type: ignore[arg-type]
    dir: str = "exports"


class ResourcesSpec(_Frozen):
    """Ray resources: where to run and with how many workers."""

    num_workers: int = Field(1, ge=0, description="Ray Train workers (0 = run in this process, no Ray)")
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    address: str | None = Field(None, description="existing Ray cluster (e.g. auto, ray://host:10001); None = local")
    storage_path: str = Field(
        "runs",
        description="root for run outputs (checkpoints, tables): a directory every Ray node sees (local disk on "
        "one machine, a shared mount such as NFS on a cluster); cloud URIs (s3://, gs://) are not supported",
    )
    max_concurrent_trials: int = Field(2, gt=0)
    max_failures: int = Field(
        0,
        ge=0,
        description="training: restarts of the worker group (from the latest checkpoint) after a worker or its "
        "node died, before the run fails",
    )

    @field_validator("storage_path")
    @classmethod
    def _a_directory(cls, v: str) -> str:
        if "://" in v:
            raise ValueError(
                f"{v!r} is a URI; cloud storage is not supported: give a directory every Ray node sees "
                "(a local path on one machine, a shared mount such as NFS on a cluster)"
            )
        return v


class Spec(_Frozen):
    """One raydistill experiment."""

    name: str = Field(description="run name, used in paths: letters, digits, '_', '-', '.'; starts with a letter")
    task: str = Field(description="task registry name, e.g. sst2, mnli, squad, chnsenticorp")
    data: DataSpec = DataSpec()
    teacher: TeacherSpec
    supernet: SupernetSpec = SupernetSpec()
    search: SearchSpec = SearchSpec()
    students: list[StudentSpec] = Field(
        default_factory=list, description="distilled students, each trained and priced as a point of its own"
    )
    export: ExportSpec = ExportSpec()
    augment: AugmentSpec = AugmentSpec()
    cost: CostSpec = CostSpec()
    resources: ResourcesSpec = ResourcesSpec()
    seed: int = 42

    @property
    def cost_seq_length(self) -> int:
        """The one sequence length the run's FLOPs are counted at (`cost.seq_length`, else `data.max_seq_length`)."""
        return self.cost.seq_length or self.data.max_seq_length

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):  # fullmatch: `$` alone would accept a trailing newline
            raise ValueError(
                f"{v!r} is not a safe name; use letters, digits, '_', '-', '.' (max 64), starting with a letter"
            )
        return v

    _seed = field_validator("seed", mode="before")(check_seed)
