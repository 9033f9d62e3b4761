"""Materialise an `Arch` of a (supernet) BERT as a small model of its own: HF directory + ONNX file.

`materialise` copies the DynaBERT prefix slices of the kept layers (`elastic.slice_layer`, the same views the
elastic forward runs on) into a `hf_subnet` model built at exactly those shapes, so the small model computes what
`bert.elastic_forward(model, arch, ...)` computes (tested to 1e-4), with only the kept parameters.

`export_subnet` writes, into one directory (the layout Optimum's ORT models use):
    config.json + model.safetensors (+ tokenizer files)   format "hf", one of two kinds (`export_kind`):
        "bert"             every kept layer keeps all heads and all kept layers one FFN width: a stock
                           `model_type: bert` dir (BertForSequenceClassification / BertForQuestionAnswering);
                           plain transformers loads it, no extra code
        "raydistill_bert"  any other Arch (heads or FFN widths that vary by layer, or tokens dropped): the
                           model code ships with it (`CODE_FILES`, copied verbatim from this package) and
                           config.json has `auto_map` (and the Arch's token fractions as `layer_tokens`), so
                           `AutoModelFor*.from_pretrained(dir, trust_remote_code=True)` loads it, selecting
                           tokens as the supernet does, without raydistill (after `import raydistill`, without
                           trust_remote_code too)
    model.onnx                                            plain ONNX ops only: onnxruntime runs it without
                                                          raydistill or torch (format "onnx")
    export.json                                           manifest: arch, head, kind, task, params, formats

Both kinds renumber the kept layers 0..n-1; the manifest's `arch` keeps the source model's layer indices.
The ONNX graph's inputs and outputs are described in `models.onnx_export`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification, PreTrainedModel

from raydistill.errors import ArchError, ModelError
from raydistill.models.arch import Arch
from raydistill.models.auto_classes import register_auto_classes
from raydistill.models.bert import base_bert, head_kind, unwrap_model
from raydistill.models.elastic import slice_layer
from raydistill.models.hf_subnet import (
    SUBNET_CLASSES,
    SubnetBertConfig,
    SubnetBertModel,
    SubnetBertPreTrainedModel,
    SubnetError,
    SubnetModel,
)
from raydistill.models.onnx_export import export_onnx, subnet_head

__all__ = [
    "FORMATS",
    "ExportInfo",
    "ExportResult",
    "LoadedExport",
    "describe",
    "export_subnet",
    "export_kind",
    "load_exported",
    "materialise",
    "own_arch",
    "stock_bert",
    "subnet_config",
]

FORMATS = ("hf", "onnx")
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "export.json"
# shipped with a raydistill_bert export (hf_subnet's docstring): the model code and its relative imports
CODE_FILES = ("hf_subnet.py", "elastic.py", "token_selection.py", "token_rule.py")
_NOT_COPIED = ("model_type", "architectures", "transformers_version", "_name_or_path", "auto_map")
_SUBNET_FIELDS = ("layer_heads", "layer_ffn", "layer_tokens")
STOCK_CLASSES: dict[str, type[PreTrainedModel]] = {
    "classification": BertForSequenceClassification,
    "qa": BertForQuestionAnswering,
}


@dataclass(frozen=True)
class ExportResult:
    """What `export_subnet` wrote. Sizes in bytes; `hf_bytes` counts the weight files (*.safetensors) only."""

    out_dir: Path
    hf_dir: Path | None
    onnx_path: Path | None
    arch_id: str
    head: str
    params: int
    hf_bytes: int
    onnx_bytes: int
    kind: str = "raydistill_bert"  # how the HF dir loads: "bert" (stock) or "raydistill_bert" (`export_kind`)


@dataclass(frozen=True)
class ExportInfo:
    """`describe`'s summary of an export directory; `files` maps every file name to its size in bytes."""

    arch: Arch
    head: str
    params: int
    hf_bytes: int
    onnx_bytes: int
    files: dict[str, int]
    task: str | None = None  # the task the model was trained for (None: exported without one)
    kind: str | None = None  # "bert" or "raydistill_bert" (`export_kind`); None: exported without "hf"
    seq_len: int | None = None  # the length it was exported for (the run's data.max_seq_length)

    @property
    def arch_id(self) -> str:
        """`Arch.id` of the exported sub-network."""
        return self.arch.id


class LoadedExport(NamedTuple):
    """`load_exported`'s result: the model (eval mode), the tokenizer (None if none was saved) and two Archs.

    `arch` indexes the exported model's own layers (0..n-1, as its config numbers them: `flops.count_flops(arch,
    model.config, ...)` prices it); `source_arch` is the same sub-network in the layers of the model it was cut
    from (the manifest's `arch`, as the search and the reports name it). Both have the same heads, FFN widths
    and FLOPs.
    """

    model: Any  # SubnetBertFor* ("raydistill_bert") or BertFor* ("bert")
    tokenizer: Any
    arch: Arch
    source_arch: Arch


def subnet_config(config: Any, arch: Arch) -> SubnetBertConfig:
    """The `SubnetBertConfig` of `arch` cut from a model with this `BertConfig` (labels, dropout... copied).

    When `config` is an export's config (cutting an exported or re-trained sub-network again), `arch` indexes
    that sub-network's layers, and `source_arch`/`source_layers` are mapped back to the original model.
    """
    fields = {k: v for k, v in config.to_diff_dict().items() if k not in _NOT_COPIED}
    origin = getattr(config, "source_layers", None)  # set in both kinds of export config
    source = arch if origin is None else replace(arch, layers=tuple(origin[j] for j in arch.layers))
    fields.update(
        num_hidden_layers=arch.num_layers,
        layer_heads=list(arch.heads),
        layer_ffn=list(arch.ffn),
        layer_tokens=None if arch.tokens is None else list(arch.tokens),
        source_arch=source.to_json(),
        source_layers=list(source.layers),
        tie_word_embeddings=False,  # no LM head: nothing is tied
        # save_pretrained adds AutoConfig and the task class; the encoder alone loads too
        auto_map={"AutoModel": f"{SubnetBertModel.__module__.rsplit('.', 1)[-1]}.SubnetBertModel"},
    )
    return SubnetBertConfig.from_dict(fields)


def export_kind(arch: Arch, num_heads: int) -> str:
    """The kind of HF dir `arch` exports as (module docstring): "bert" when a stock `BertConfig` expresses it
    (every kept layer keeps all `num_heads` heads, all kept layers one FFN width, every token kept;
    transformers 5 has no head pruning), else "raydistill_bert"."""
    stock = all(h == num_heads for h in arch.heads) and len(set(arch.ffn)) == 1 and arch.tokens is None
    return "bert" if stock else "raydistill_bert"


def own_arch(config: Any) -> Arch:
    """The whole of an exported model, over its own layers 0..n-1 (`raydistill_bert` or stock `bert` config)."""
    n = config.num_hidden_layers
    if isinstance(config, SubnetBertConfig):
        tokens = None if config.layer_tokens is None else tuple(config.layer_tokens)
        return Arch(tuple(range(n)), tuple(config.layer_heads or []), tuple(config.layer_ffn or []), tokens)
    return Arch.full(n, config.num_attention_heads, config.intermediate_size)


def stock_bert(small: SubnetModel) -> PreTrainedModel | None:
    """The same model as a stock `BertForSequenceClassification`/`BertForQuestionAnswering`, when its widths
    allow (`export_kind`), else None. Same state-dict names and shapes, so the weights copy over as they are."""
    config = small.config
    if export_kind(own_arch(config), config.num_attention_heads) != "bert":
        return None
    fields = {k: v for k, v in config.to_diff_dict().items() if k not in _NOT_COPIED + _SUBNET_FIELDS}
    fields["intermediate_size"] = (config.layer_ffn or [config.intermediate_size])[0]
    stock: Any = STOCK_CLASSES[subnet_head(small)](BertConfig.from_dict(fields))
    stock.load_state_dict(small.state_dict())  # strict: every tensor, same shapes
    return stock.to(next(small.parameters()).dtype).eval()


def _copy_checked(dst: Tensor, src: Tensor, name: str) -> None:
    """dst <- src, refusing shape mismatches (`copy_` would broadcast them away: PaddleNLP #1466)."""
    if dst.shape != src.shape:
        raise ModelError(
            f"export: {name} is {tuple(dst.shape)} in the small model but {tuple(src.shape)} sliced"
        )
    dst.copy_(src)


def _check_fits_subnet(arch: Arch, config: SubnetBertConfig) -> None:
    """`arch` (over a sub-network's own layers) keeps at most the heads/neurons each of those layers has."""
    arch.validate_for(config)  # layer indices
    layer_heads, layer_ffn = config.layer_heads or [], config.layer_ffn or []
    for i, layer in enumerate(arch.layers):
        h, f = layer_heads[layer], layer_ffn[layer]
        if arch.heads[i] > h or arch.ffn[i] > f:
            raise ArchError(
                f"Arch {arch.id}: layer {layer} of this sub-network has {h} heads and {f} FFN neurons, the Arch "
                f"keeps {arch.heads[i]} and {arch.ffn[i]}; keep at most what the layer has"
            )


def _task_model(hf: nn.Module, arch: Arch) -> tuple[str, Any]:
    """(head kind, encoder) of a BERT or `raydistill_bert` task model that `arch` fits (else an error)."""
    if isinstance(hf, SubnetBertPreTrainedModel):  # an exported / re-trained sub-network, cut again
        kind = subnet_head(hf)
        _check_fits_subnet(arch, hf.config)
        return kind, hf.bert
    kind = head_kind(hf)
    if kind not in SUBNET_CLASSES:
        raise ModelError(
            f"export needs a task head; got a bare {type(hf).__name__}. Load the checkpoint with "
            "BertForSequenceClassification or BertForQuestionAnswering"
        )
    bert = base_bert(hf)
    arch.validate_for(bert.config)
    return kind, bert


def materialise(model: nn.Module, arch: Arch) -> SubnetModel:
    """A standalone small model holding only the weights `arch` keeps (DynaBERT prefix slices).

    Args:
        model: `BertForSequenceClassification` or `BertForQuestionAnswering` (optionally in ElasticBert/DDP),
            or a `raydistill_bert` task model (e.g. a re-trained sub-network; `arch` then indexes its layers,
            and its full Arch gives a copy of it).
        arch: the sub-network; must fit the model. Its `tokens` (if any) become the small model's
            `layer_tokens`: it then selects and restores tokens as `elastic_forward` does for `arch`.

    Raises:
        ArchError: the Arch does not fit the model.
        ModelError: the model has no supported task head.
    """
    hf = unwrap_model(model)
    kind, bert = _task_model(hf, arch)
    dtype = next(hf.parameters()).dtype
    small: Any = SUBNET_CLASSES[kind](subnet_config(hf.config, arch)).to(dtype)
    with torch.no_grad():
        small.bert.embeddings.load_state_dict(bert.embeddings.state_dict())
        for i, (mine, src) in enumerate(zip(small.bert.encoder.weights(), arch.layers, strict=True)):
            theirs = slice_layer(bert.encoder.layer[src], arch.heads[i], arch.ffn[i]).tensors()
            for name, tensor in mine.tensors().items():  # views of the small model's own parameters
                _copy_checked(tensor, theirs[name], f"layer {i} (source layer {src}) {name}")
        if small.bert.pooler is not None and bert.pooler is not None:
            small.bert.pooler.load_state_dict(bert.pooler.state_dict())
        head = "classifier" if kind == "classification" else "qa_outputs"
        getattr(small, head).load_state_dict(getattr(hf, head).state_dict())
    return small.eval()


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats or isinstance(formats, str):
        raise ModelError(
            f"export formats {list(formats)!r} are invalid; give a list drawn from {list(FORMATS)}"
        )
    return tuple(dict.fromkeys(formats))


def _remove_stale(out: Path, chosen: tuple[str, ...], kind: str) -> None:
    """Delete files of formats (or model code) not written now, left by an earlier export into the same dir."""
    stale = [] if "hf" in chosen else [out / "config.json", *out.glob("*.safetensors")]
    stale += [] if "onnx" in chosen else [out / ONNX_FILE]
    stale += [] if "hf" in chosen and kind == "raydistill_bert" else [out / name for name in CODE_FILES]
    for file in stale:
        file.unlink(missing_ok=True)


def _weights_bytes(out_dir: Path) -> int:
    return sum(p.stat().st_size for p in out_dir.glob("*.safetensors"))


def export_subnet(
    model: nn.Module,
    arch: Arch,
    out_dir: str | Path,
    *,
    tokenizer: Any = None,
    formats: Sequence[str] = FORMATS,
    seq_len: int = 128,
    task: str | None = None,
) -> ExportResult:
    """Materialise `arch` of `model` and write it as an HF directory and/or an ONNX file into `out_dir`.

    Args:
        model: the (supernet) HF BERT with a classification or QA head, or a `raydistill_bert` task model
            (see `materialise`).
        arch: the sub-network to keep. The manifest records it in the original model's layers (for a
            `raydistill_bert` source: mapped back through its `source_layers`).
        out_dir: the export directory (created; files of the same names are overwritten).
        tokenizer: saved next to the HF files when given (format "hf").
        formats: any of "hf" and "onnx".
        seq_len: dummy input length for the ONNX tracing (both axes stay dynamic); recorded in the manifest
            as the length the model was trained at (`raydistill evaluate`'s default).
        task: the task the model was trained for (recorded in the manifest; `raydistill evaluate` defaults to it).

    Raises:
        ArchError: the Arch does not fit the model. ModelError: unsupported model or unknown format.
    """
    chosen = _check_formats(formats)
    small = materialise(model, arch)
    head = subnet_head(small)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hf_dir = onnx_path = None
    kind = export_kind(own_arch(small.config), small.config.num_attention_heads)
    if "hf" in chosen:
        # a raydistill_bert also writes CODE_FILES and auto_map (its classes are registered for the Auto classes)
        (stock_bert(small) or small).save_pretrained(out)
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
        hf_dir = out
    if "onnx" in chosen:
        onnx_path = export_onnx(small, out / ONNX_FILE, seq_len=seq_len)
    _remove_stale(out, chosen, kind)
    n_params = sum(p.numel() for p in small.parameters())
    # the Arch in the original model's layers: `arch` itself unless `model` was a sub-network
    source = Arch.from_json(small.config.source_arch or arch.to_json())
    manifest = {
        "arch": source.to_dict(),
        "arch_id": source.id,
        "head": head,
        "kind": kind,
        "task": task,
        "seq_len": seq_len,
        "params": n_params,
        "formats": chosen,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return ExportResult(
        out_dir=out,
        hf_dir=hf_dir,
        onnx_path=onnx_path,
        arch_id=source.id,
        head=head,
        params=n_params,
        hf_bytes=_weights_bytes(out),
        onnx_bytes=onnx_path.stat().st_size if onnx_path is not None else 0,
        kind=kind,
    )


def _manifest(path: str | Path) -> tuple[Path, dict[str, Any]]:
    out = Path(path)
    manifest = out / MANIFEST_FILE
    if not manifest.is_file():
        raise ModelError(
            f"{out} is not a raydistill export (no {MANIFEST_FILE}); create one with export_subnet / "
            "`raydistill export`"
        )
    return out, json.loads(manifest.read_text())


def describe(path: str | Path) -> ExportInfo:
    """Arch, head, parameter count and file sizes of an export directory (reads no weights)."""
    out, manifest = _manifest(path)
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    return ExportInfo(
        arch=Arch.from_dict(manifest["arch"]),
        head=manifest["head"],
        params=int(manifest["params"]),
        hf_bytes=_weights_bytes(out),
        onnx_bytes=files.get(ONNX_FILE, 0),
        files=files,
        task=manifest.get("task"),
        kind=manifest.get("kind") if "hf" in manifest["formats"] else None,
        seq_len=manifest.get("seq_len"),
    )


def load_exported(path: str | Path) -> LoadedExport:
    """Load an export directory's HF model (eval mode, either kind) and its tokenizer, if one was saved.

    Raises:
        ModelError: not an export, no HF files, or files that do not load (named, with the reason).
    """
    from huggingface_hub.errors import StrictDataclassError
    from safetensors import SafetensorError
    from transformers import AutoTokenizer

    out, manifest = _manifest(path)
    if "hf" not in manifest["formats"]:
        raise ModelError(f"{out} holds only {manifest['formats']}; re-export with formats including 'hf'")
    register_auto_classes()
    damaged = (OSError, ValueError, KeyError, RuntimeError, SafetensorError, StrictDataclassError)
    try:
        model_type = json.loads((out / "config.json").read_text()).get("model_type")
        classes = STOCK_CLASSES if model_type == "bert" else SUBNET_CLASSES
        model: Any = classes[manifest["head"]].from_pretrained(out)
        tokenizer = AutoTokenizer.from_pretrained(out) if (out / "tokenizer_config.json").is_file() else None
    except (*damaged, SubnetError) as exc:  # missing or damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{out}: cannot load the exported model ({first}); export it again") from None
    return LoadedExport(model.eval(), tokenizer, own_arch(model.config), Arch.from_dict(manifest["arch"]))
