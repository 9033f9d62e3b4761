"""ONNX export of a materialised sub-network (`models.export.materialise`), runnable without raydistill.

Uses the dynamo exporter (`torch.onnx.export(..., dynamo=True)`, which needs `onnxscript`, in the `export` extra):
the legacy TorchScript exporter fails on the `x.shape[-1:]` LayerNorm shape of `elastic.attention_block` once the
axes are dynamic. The graph holds plain ai.onnx ops only (opset 20: LayerNormalization, Gelu, MatMul, Softmax...).
    inputs:  input_ids, attention_mask, token_type_ids   int64 (batch, sequence), both axes dynamic
    outputs: logits (batch, C)  |  start_logits, end_logits (batch, sequence)
The exporter's per-node debug metadata (stack traces with local file paths) is stripped.

A length-configured model (`layer_tokens`) exports with its token selection and restore in the graph: the counts
come from a constant table of the rounding rule indexed by each example's real length (Gather), the kept tokens
from TopK with k = the largest count in the batch (a data-dependent size: the dynamo exporter keeps it symbolic,
bounded by `torch._check`), the per-example counts mask the slots beyond each example's own count, and the dropped
tokens are scattered back (ScatterElements) before the head. So the ONNX model keeps exactly the tokens the
supernet keeps, example by example, and its later layers run on the shrunk sequence.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from raydistill.errors import ModelError
from raydistill.models.hf_subnet import SUBNET_CLASSES, SubnetModel

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "export_onnx", "subnet_head"]

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = {"classification": ("logits",), "qa": ("start_logits", "end_logits")}


def subnet_head(model: nn.Module) -> str:
    """'classification' or 'qa' for a `raydistill_bert` task model (`models.hf_subnet`); ModelError otherwise."""
    for kind, cls in SUBNET_CLASSES.items():
        if isinstance(model, cls):
            return kind
    raise ModelError(
        f"expected a raydistill_bert task model (from export.materialise); got a {type(model).__name__}"
    )


class _OnnxHead(nn.Module):
    """Positional (input_ids, attention_mask, token_type_ids) -> tuple of output tensors, for the exporter."""

    def __init__(self, model: SubnetModel, kind: str) -> None:
        super().__init__()
        self.model, self.kind = model, kind

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor
    ) -> tuple[Tensor, ...]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return tuple(getattr(out, name) for name in OUTPUT_NAMES[self.kind])


def export_onnx(model: SubnetModel, path: str | Path, *, seq_len: int = 128, batch_size: int = 2) -> Path:
    """Write `model` (from `materialise`) as one ONNX file with dynamic batch and sequence axes.

    Args:
        model: the small model.
        path: the .onnx file to write (weights embedded, no external data).
        seq_len: length of the dummy input used for tracing (2..max_position_embeddings); any length up to
            max_position_embeddings runs afterwards.
        batch_size: batch of the dummy input (>= 2, so the batch axis is not specialised to 1).
    """
    kind = subnet_head(model)
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(
            f"ONNX export needs {', '.join(missing)} (not installed); pip install 'raydistill[export]' "
            "or export with formats=('hf',)"
        )
    max_len = model.config.max_position_embeddings
    if not 2 <= seq_len <= max_len or batch_size < 2:
        raise ModelError(
            f"export_onnx: seq_len={seq_len}, batch_size={batch_size}; use 2 <= seq_len <= {max_len} "
            "(max_position_embeddings) and batch_size >= 2"
        )
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (batch_size, seq_len), generator=g)  # (B, L)
    mask = torch.ones_like(ids)
    mask[-1, seq_len // 2 :] = 0  # one padded row
    types = torch.zeros_like(ids)
    batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("sequence", min=1, max=max_len)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # "axis name ... shares the same shape constraints": intended here
        warnings.filterwarnings("ignore", message=r"# The axis name", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
        torch.onnx.export(
            _OnnxHead(model, kind).eval(),
            (ids, mask, types),
            str(path),
            dynamo=True,
            external_data=False,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES[kind]),
            dynamic_shapes={name: {0: batch, 1: seq} for name in INPUT_NAMES},
            verbose=False,
        )
    _strip_node_metadata(path)
    return path


def _strip_node_metadata(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (stack traces with local file paths; ~3x the weights)."""
    import onnx

    proto = onnx.load(str(path))
    for graph in [proto.graph, *proto.functions]:
        for node in graph.node:
            del node.metadata_props[:]
    onnx.save(proto, str(path))
