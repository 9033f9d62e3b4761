"""DynaBERT importance and network rewiring: put the most important heads and FFN neurons first.

After `reorder_`, every width sub-network is a prefix (`W[:out, :in]`), which is what `models.elastic.slice_layer`
takes. The full model computes exactly the same function before and after (heads and neurons are only permuted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from raydistill.errors import ModelError
from raydistill.models.arch import Arch
from raydistill.models.bert import ElasticOutput, base_bert, elastic_forward, task_loss, unwrap_model

__all__ = ["compute_importance", "reorder_"]

LossFn = Callable[[ElasticOutput, Mapping[str, Tensor]], Tensor]


def compute_importance(
    model: nn.Module, batches: Iterable[Mapping[str, Tensor]], loss_fn: LossFn | None = None
) -> tuple[Tensor, Tensor]:
    """DynaBERT head and FFN-neuron importance (DynaBERT Sec. 3.1, after Michel et al. 2019 / Molchanov 2017).

    Per batch, with the full model in eval mode and L the task loss:
        head (l, h):   |dL / d m_{l,h}|, m = a head mask of ones multiplying attention probabilities;
        neuron (l, i): |sum_j W1[i,j] dW1[i,j] + b1[i] db1[i]| + |sum_j W2[j,i] dW2[j,i]|
    (W1 = intermediate.dense, W2 = output.dense), summed over batches. Gradients come from `torch.autograd.grad`,
    so the parameters' `.grad` is left untouched.

    Pass TRAIN batches (a subset is enough), never dev/test ones: the reference implementations compute this on
    the dev set, which leaks evaluation data into the architecture.

    Args:
        model: a supported HF BERT (possibly wrapped); its train/eval mode is restored afterwards.
        batches: dicts with input_ids, attention_mask, token_type_ids and the labels `loss_fn` needs; tensors
            are moved to the model's device.
        loss_fn: `(output, batch) -> loss`; default `models.bert.task_loss` (CE / MSE / QA start+end CE).

    Returns:
        (head_importance (num_layers, num_heads), neuron_importance (num_layers, intermediate_size)), float32 on
        the model's device.
    """
    hf = unwrap_model(model)
    bert = base_bert(hf)
    arch = Arch.for_config(bert.config)
    loss_fn = loss_fn or (lambda out, batch: task_loss(hf, out, batch))
    layers = list(bert.encoder.layer)
    w1 = [layer.intermediate.dense.weight for layer in layers]  # (f, d) each
    b1 = [layer.intermediate.dense.bias for layer in layers]  # (f,)
    w2 = [layer.output.dense.weight for layer in layers]  # (d, f)
    device = w1[0].device
    head_mask = torch.ones(arch.num_layers, arch.heads[0], device=device, requires_grad=True)  # (L, H)
    head_imp = torch.zeros(arch.num_layers, arch.heads[0], device=device)  # (L, H)
    neuron_imp = torch.zeros(arch.num_layers, arch.ffn[0], device=device)  # (L, f)
    was_training, seen = hf.training, 0
    hf.eval()
    try:
        for batch in batches:
            batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
            ids, mask, types = batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids")
            out = elastic_forward(hf, arch, ids, mask, types, head_mask=head_mask)
            grads = torch.autograd.grad(loss_fn(out, batch), [head_mask, *w1, *b1, *w2])
            n = arch.num_layers
            g_w1, g_b1, g_w2 = grads[1 : n + 1], grads[n + 1 : 2 * n + 1], grads[2 * n + 1 :]
            with torch.no_grad():
                head_imp += grads[0].abs()
                for i in range(n):
                    neuron_imp[i] += ((w1[i] * g_w1[i]).sum(1) + b1[i] * g_b1[i]).abs()  # (f,)
                    neuron_imp[i] += (w2[i] * g_w2[i]).sum(0).abs()  # (f,)
            seen += 1
    finally:
        hf.train(was_training)
    if seen == 0:
        raise ModelError("compute_importance got no batches; pass a non-empty iterable of train batches")
    return head_imp, neuron_imp


def reorder_(model: nn.Module, head_importance: Tensor, neuron_importance: Tensor) -> tuple[Tensor, Tensor]:
    """Permute every layer's heads and FFN neurons in place, most important first (DynaBERT network rewiring).

    Heads: Q/K/V output rows (weight and bias) of each head block and the matching attention-output input
    columns. Neurons: intermediate rows + bias and output input columns. The parameters keep their identity
    (data copied in place), but optimizer state built before the call would be misaligned: reorder first.

    Args:
        model: a supported HF BERT (possibly wrapped).
        head_importance: (num_layers, num_heads); neuron_importance: (num_layers, intermediate_size).

    Returns:
        (head_order (L, H), neuron_order (L, f)): `order[l][k]` is the old index now at position k.
    """
    bert = base_bert(model)
    cfg = bert.config
    expected = {
        "head": (head_importance, (cfg.num_hidden_layers, cfg.num_attention_heads)),
        "neuron": (neuron_importance, (cfg.num_hidden_layers, cfg.intermediate_size)),
    }
    for name, (t, shape) in expected.items():
        if tuple(t.shape) != shape:
            raise ModelError(f"{name} importance has shape {tuple(t.shape)}; this model needs {shape}")
    head_order = torch.argsort(head_importance.detach().cpu(), dim=1, descending=True, stable=True)  # (L, H)
    neuron_order = torch.argsort(
        neuron_importance.detach().cpu(), dim=1, descending=True, stable=True
    )  # (L, f)
    with torch.no_grad():
        for layer, heads, neurons in zip(bert.encoder.layer, head_order, neuron_order, strict=True):
            _permute_heads(layer, heads)
            _permute_neurons(layer, neurons)
    return head_order, neuron_order


def _permute_rows(linear: nn.Linear, index: Tensor) -> None:
    linear.weight.copy_(linear.weight[index.to(linear.weight.device)])
    linear.bias.copy_(linear.bias[index.to(linear.bias.device)])


def _permute_heads(layer: Any, order: Tensor) -> None:
    attn = layer.attention.self
    dh = attn.attention_head_size
    rows = (order[:, None] * dh + torch.arange(dh)).reshape(-1)  # (H*dh,) head-block row index
    for linear in (attn.query, attn.key, attn.value):
        _permute_rows(linear, rows)
    dense = layer.attention.output.dense
    dense.weight.copy_(dense.weight[:, rows.to(dense.weight.device)])


def _permute_neurons(layer: Any, order: Tensor) -> None:
    _permute_rows(layer.intermediate.dense, order)
    out = layer.output.dense
    out.weight.copy_(out.weight[:, order.to(out.weight.device)])
