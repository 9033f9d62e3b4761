"""Analytic MACs/FLOPs/params against the PyTorch flop counter, hand formulas and really-sliced tensors."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig

from raydistill.errors import ModelError
from raydistill.models.arch import Arch
from raydistill.models.bert import base_bert, elastic_forward
from raydistill.models.elastic import slice_layer
from raydistill.models.flops import count_flops, flops_ratio, params, teacher_flops
from tests.conftest import tiny_bert_config
from tests.unit.models.conftest import make_model

CFG4 = tiny_bert_config(num_hidden_layers=4)
ARCHS = [
    Arch.for_config(CFG4),
    Arch.for_config(CFG4, width=0.5),
    Arch.for_config(CFG4, depth=0.5),
    Arch((0, 2, 3), (4, 1, 3), (64, 7, 30)),
]


@pytest.mark.parametrize("head", ["classification", "qa"])
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.id)
def test_matches_pytorch_flop_counter(arch: Arch, head: str) -> None:
    model = make_model("classification" if head == "classification" else "qa", num_hidden_layers=4)
    ids = torch.randint(5, 60, (1, 16))
    # output_attention_scores=True takes the explicit matmul path: the fused CPU SDPA kernel has no flop formula.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        elastic_forward(model, arch, ids, output_attention_scores=True)
    measured = counter.get_total_flops()  # matmul FLOPs only (mm/addmm/bmm), = 2 x MACs
    analytic = count_flops(arch, model.config, seq_len=16, num_labels=3, head=head)
    assert abs(analytic.flops - measured) <= 0.02 * measured
    assert analytic.flops == measured  # in fact exact: both count exactly the matmuls


def test_lat_formula_and_bert_base_total() -> None:
    cfg = BertConfig()  # BERT-base: 12 layers, d=768, 12 heads, d_ff=3072
    n, d, f = 384, 768, 3072
    fb = teacher_flops(cfg, seq_len=n, num_labels=2)
    assert fb.per_layer_macs == (4 * n * d * d + 2 * n * n * d + 2 * n * d * f,) * 12  # LAT per full layer
    assert fb.encoder_macs == 35_332_816_896  # ~35.3 GMACs (LAT)
    assert fb.macs == fb.encoder_macs + 768 * 768 + 768 * 2  # + pooler + classifier
    assert fb.flops == 2 * fb.macs
    d_out = fb.as_dict()
    assert d_out["macs"] == fb.macs and d_out["flops"] == fb.flops and d_out["embeddings_macs"] == 0
    assert d_out["per_layer_macs"] == list(fb.per_layer_macs)


def test_token_dropping_counts_by_hand() -> None:
    cfg = tiny_bert_config()  # d=32, 4 heads of 8, d_ff=64
    arch = Arch((0, 1), (4, 2), (64, 16), tokens=(1.0, 0.5))
    fb = count_flops(arch, cfg, seq_len=10, num_labels=2, head="qa")
    layer0 = 3 * 10 * 32 * 32 + 2 * 10 * 10 * 32 + 10 * 32 * 32 + 2 * 10 * 32 * 64
    layer1 = 3 * 10 * 32 * 16 + 2 * 10 * 10 * 16 + 10 * 16 * 32 + 2 * 5 * 32 * 16  # FFN on 5 kept tokens
    assert fb.per_layer_macs == (layer0, layer1)
    assert fb.head_macs == 10 * 32 * 2 and fb.pooler_macs == 0  # QA head on the restored 10 tokens
    assert fb.macs == layer0 + layer1 + 10 * 32 * 2
    assert fb.fixed_macs == 10 * 32 * 2 and fb.macs == fb.encoder_macs + fb.fixed_macs  # what no Arch shrinks
    assert fb.as_dict()["fixed_macs"] == fb.fixed_macs


def test_ratios() -> None:
    cfg = BertConfig()
    full = Arch.for_config(cfg)
    assert flops_ratio(full, None, cfg, 128) == 1.0
    half_width = flops_ratio(Arch.for_config(cfg, width=0.5), full, cfg, 128)
    half_depth = flops_ratio(Arch.for_config(cfg, depth=0.5), full, cfg, 128)
    assert 0.49 < half_width < 0.51 and 0.49 < half_depth < 0.51
    assert count_flops(full, cfg, 128).macs == teacher_flops(cfg, 128).macs


@pytest.mark.parametrize("head", ["classification", "qa"])
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.id)
def test_params_equal_sliced_tensor_sizes(arch: Arch, head: str) -> None:
    model = make_model("classification" if head == "classification" else "qa", num_hidden_layers=4)
    bert = base_bert(model)
    total = sum(p.numel() for p in bert.embeddings.parameters())
    for idx, h, f in zip(arch.layers, arch.heads, arch.ffn, strict=True):
        total += sum(t.numel() for t in slice_layer(bert.encoder.layer[idx], h, f).tensors().values())
    heads = [bert.pooler, model.classifier] if head == "classification" else [model.qa_outputs]
    total += sum(p.numel() for m in heads for p in m.parameters())
    assert params(arch, model.config, num_labels=3, head=head) == total
    if arch == ARCHS[0]:
        assert total == sum(p.numel() for p in model.parameters())


def test_bad_inputs() -> None:
    with pytest.raises(ModelError, match="FLOPs head 'ner' is unknown; use one of classification, qa"):
        count_flops(ARCHS[0], CFG4, 16, head="ner")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="layer index 3"):
        count_flops(ARCHS[0], tiny_bert_config(), 16)
