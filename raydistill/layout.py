"""`RunLayout`: the one place that names the files and folders of a run directory `<storage_path>/<name>/`.

Every module that reads or writes a run goes through a `RunLayout` (or, for a Ray folder handed around on its
own, a `RayDir`); no other module spells a run path. Plain pathlib: importable from every layer (no Ray, Optuna
or torch here). The names below are the on-disk contract: existing runs stay readable only while they hold.

    spec.json                           the spec the run was started with (written by `raydistill run`)
    points.parquet  points.csv          the points table: one row per model the run produced (`results.points`)
    <stage>/stage.json                  a complete stage's key, what went into it, its summary (`stages.plan`)
    teacher/model/  teacher/metrics.json
    supernet/init/ (+ init/reorder.json: the key it was made under)  supernet/model/  supernet/supernet_eval.csv  supernet/metrics.json
    search/trials.parquet  search/trials.csv  search/meta.json  search/dev_metrics.json
    search/exhausted.json
    picks/                              the picks stage's stage.json (its rows are in the points table)
    retrain/<arch id>/init/  retrain/<arch id>/model/  retrain/retrain.json
    students/<name>/init/  students/<name>/general/ intermediate/ (tinybert)  students/<name>/model/
    students/students.json              per student: method, shape, phases, dev and search metric
    students/_teacher_outputs/<key>.pt  the teacher's logits and [CLS] states on a student's training data
    export/latency.json  export/exports.json
    augment/augmented.jsonl             TinyBERT-augmented training examples (`data.augment`; stage `augment`)
    augment/mlm_head/head.pt  head.json the fitted MLM head (when the checkpoint has none) and its key and accuracy
    report/                             the report stage's stage.json (the report itself goes to reports/<name>/)
    logs/ray.log                        Ray's output for a command run without --verbose
    ray/                                Ray's storage: Train runs `ray/<run name>` and the Tune experiment
                                        `ray/<name>-search`, each with `.prev`, `.inputs.json` (the run key it
                                        was started under) and, for Train runs, `.progress.jsonl` beside it
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AUGMENTED_FILE",
    "CSV_FILE",
    "DEV_FILE",
    "EVAL_CSV",
    "EXHAUSTED_FILE",
    "EXPORTS_FILE",
    "HEAD_META",
    "HEAD_WEIGHTS",
    "INPUTS_SUFFIX",
    "LATENCY_FILE",
    "LOG_FILE",
    "META_FILE",
    "METRICS_FILE",
    "PARQUET_FILE",
    "POINTS_CSV",
    "POINTS_PARQUET",
    "PREV_SUFFIX",
    "PROGRESS_SUFFIX",
    "RETRAIN_FILE",
    "REORDER_FILE",
    "SPEC_FILE",
    "STAGES",
    "STAGE_FILE",
    "STUDENTS_FILE",
    "RayDir",
    "RunLayout",
]

SPEC_FILE = "spec.json"
POINTS_PARQUET = "points.parquet"  # the run's points table (`results.points`)
POINTS_CSV = "points.csv"
STAGE_FILE = "stage.json"
METRICS_FILE = "metrics.json"  # teacher/ and supernet/
REORDER_FILE = "reorder.json"  # supernet/init/
EVAL_CSV = "supernet_eval.csv"
PARQUET_FILE = "trials.parquet"  # search/ (the trial table; `results.table`)
CSV_FILE = "trials.csv"
META_FILE = "meta.json"
DEV_FILE = "dev_metrics.json"
EXHAUSTED_FILE = "exhausted.json"
RETRAIN_FILE = "retrain.json"  # retrain/
STUDENTS_FILE = "students.json"  # students/
LATENCY_FILE = "latency.json"  # export/
EXPORTS_FILE = "exports.json"
AUGMENTED_FILE = "augmented.jsonl"  # augment/
HEAD_WEIGHTS = "head.pt"  # augment/mlm_head/
HEAD_META = "head.json"
LOG_FILE = "ray.log"  # logs/
PREV_SUFFIX = ".prev"  # a Ray folder set aside when its inputs changed
INPUTS_SUFFIX = ".inputs.json"  # beside a Ray folder: the run key it was started under
PROGRESS_SUFFIX = ".progress.jsonl"  # beside a Train run: rank 0's progress lines

STAGES = (
    "augment", "teacher", "supernet", "search", "picks", "retrain", "students", "export", "report"
)  # one folder each, run order
MODEL = "model"
INIT = "init"


@dataclass(frozen=True)
class RayDir:
    """A folder Ray owns (a Train run or a Tune experiment) and the siblings raydistill keeps beside it."""

    path: Path

    @property
    def prev(self) -> Path:
        """Where the folder is set aside when its inputs changed."""
        return self.path.with_name(self.path.name + PREV_SUFFIX)

    @property
    def inputs(self) -> Path:
        """The key the folder's run was started under (a run is resumed only under the same key)."""
        return self.path.with_name(self.path.name + INPUTS_SUFFIX)

    @property
    def progress(self) -> Path:
        """A Train run's progress lines (rank 0 writes, the driver's console reads)."""
        return self.path.with_name(self.path.name + PROGRESS_SUFFIX)

    @property
    def siblings(self) -> tuple[Path, ...]:
        """Every path that belongs to this folder: itself and the files beside it."""
        return (self.path, self.prev, self.inputs, self.progress)


@dataclass(frozen=True)
class RunLayout:
    """The files and folders of one run directory (`root`, normally `<storage_path>/<name>`)."""

    root: Path

    @classmethod
    def of(cls, storage_path: str | Path, name: str) -> RunLayout:
        """The run `name` under `storage_path`, as an absolute path (Ray needs absolute storage paths)."""
        return cls((Path(storage_path).expanduser() / name).resolve())

    @property
    def spec_json(self) -> Path:
        return self.root / SPEC_FILE

    @property
    def points_parquet(self) -> Path:
        return self.root / POINTS_PARQUET

    @property
    def points_csv(self) -> Path:
        return self.root / POINTS_CSV

    def stage_dir(self, stage: str) -> Path:
        """`<stage>/`: the folder of a pipeline stage (`STAGES`)."""
        return self.root / stage

    def stage_file(self, stage: str) -> Path:
        """`<stage>/stage.json`: written once the stage is complete."""
        return self.stage_dir(stage) / STAGE_FILE

    # teacher
    @property
    def teacher_dir(self) -> Path:
        return self.stage_dir("teacher")

    @property
    def teacher_model(self) -> Path:
        return self.teacher_dir / MODEL

    @property
    def teacher_metrics(self) -> Path:
        return self.teacher_dir / METRICS_FILE

    # supernet
    @property
    def supernet_dir(self) -> Path:
        return self.stage_dir("supernet")

    @property
    def supernet_init(self) -> Path:
        return self.supernet_dir / INIT

    @property
    def supernet_reorder(self) -> Path:
        return self.supernet_init / REORDER_FILE

    @property
    def supernet_model(self) -> Path:
        return self.supernet_dir / MODEL

    @property
    def supernet_eval_csv(self) -> Path:
        return self.supernet_dir / EVAL_CSV

    @property
    def supernet_metrics(self) -> Path:
        return self.supernet_dir / METRICS_FILE

    # search
    @property
    def search_dir(self) -> Path:
        return self.stage_dir("search")

    @property
    def trials_parquet(self) -> Path:
        return self.search_dir / PARQUET_FILE

    @property
    def trials_csv(self) -> Path:
        return self.search_dir / CSV_FILE

    @property
    def search_meta(self) -> Path:
        return self.search_dir / META_FILE

    @property
    def dev_metrics(self) -> Path:
        return self.search_dir / DEV_FILE

    @property
    def exhausted(self) -> Path:
        return self.search_dir / EXHAUSTED_FILE

    @property
    def search_outputs(self) -> tuple[Path, ...]:
        """What a search writes: dropped when a new search starts."""
        return (self.trials_parquet, self.trials_csv, self.search_meta, self.dev_metrics, self.exhausted)

    # retrain
    @property
    def retrain_dir(self) -> Path:
        return self.stage_dir("retrain")

    def retrain_init(self, arch_id: str) -> Path:
        return self.retrain_dir / arch_id / INIT

    def retrain_model(self, arch_id: str) -> Path:
        return self.retrain_dir / arch_id / MODEL

    @property
    def retrain_file(self) -> Path:
        return self.retrain_dir / RETRAIN_FILE

    # students
    @property
    def students_dir(self) -> Path:
        return self.stage_dir("students")

    def student_init(self, name: str) -> Path:
        """The student as built (from a shape, the teacher's layers, or a checkpoint): its first run's start."""
        return self.students_dir / name / INIT

    def student_phase(self, name: str, phase: str) -> Path:
        """The model after one phase of a two-phase method (tinybert's `intermediate`)."""
        return self.students_dir / name / phase

    def student_model(self, name: str) -> Path:
        """The trained student (HF dir + tokenizer); the export stage exports it."""
        return self.students_dir / name / MODEL

    @property
    def teacher_outputs_dir(self) -> Path:
        """The teacher's cached outputs (`distill.teacher_outputs`); `_` keeps it apart from student names."""
        return self.students_dir / "_teacher_outputs"

    def teacher_outputs(self, key: str) -> Path:
        """The teacher's cached outputs on one training set (`key`: what they were computed from)."""
        return self.teacher_outputs_dir / f"{key[:16]}.pt"

    @property
    def students_file(self) -> Path:
        return self.students_dir / STUDENTS_FILE

    # export
    @property
    def export_dir(self) -> Path:
        return self.stage_dir("export")

    @property
    def latency_json(self) -> Path:
        return self.export_dir / LATENCY_FILE

    @property
    def exports_json(self) -> Path:
        return self.export_dir / EXPORTS_FILE

    # augment
    @property
    def augment_dir(self) -> Path:
        return self.stage_dir("augment")

    @property
    def augmented_train(self) -> Path:
        """The augmented training set: originals and their copies, JSON Lines (`data.augment.read_augmented`)."""
        return self.augment_dir / AUGMENTED_FILE

    @property
    def mlm_head_dir(self) -> Path:
        return self.augment_dir / "mlm_head"

    @property
    def mlm_head_weights(self) -> Path:
        return self.mlm_head_dir / HEAD_WEIGHTS

    @property
    def mlm_head_meta(self) -> Path:
        return self.mlm_head_dir / HEAD_META

    # models, logs, Ray
    @property
    def model_dirs(self) -> tuple[Path, ...]:
        """Where a run keeps the model its sub-networks are cut from, best first: supernet, else teacher."""
        return (self.supernet_model, self.teacher_model)

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def ray_log(self) -> Path:
        return self.logs_dir / LOG_FILE

    @property
    def ray_dir(self) -> Path:
        """Ray's storage for this run (Train runs and the Tune experiment)."""
        return self.root / "ray"

    def train_run(self, run_name: str) -> RayDir:
        """`ray/<run name>`: a stage's Ray Train run."""
        return RayDir(self.ray_dir / run_name)

    def search_experiment(self, name: str) -> RayDir:
        """`ray/<name>-search`: the search's Tune experiment (`name`: the spec's name)."""
        return RayDir(self.ray_dir / f"{name}-search")
