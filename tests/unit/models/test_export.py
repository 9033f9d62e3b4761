"""Export: the materialised sub-network (HF dir + ONNX) computes exactly the elastic forward of its Arch.

Every export is made once per module (ONNX export takes seconds). The HF dirs are loaded in a fresh Python
process that only does `import raydistill` + transformers' Auto classes, and again in a process where importing
raydistill fails (stock `bert` exports with plain transformers, `raydistill_bert` ones with
`trust_remote_code=True` and the shipped model code); the ONNX files run in a process where importing
raydistill or torch fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import Tensor, nn
from transformers import BertForQuestionAnswering, BertForSequenceClassification, BertTokenizerFast
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from raydistill.errors import ArchError, ModelError
from raydistill.models import elastic, hf_subnet, token_rule, token_selection
from raydistill.models.arch import Arch
from raydistill.models.auto_classes import register_on_transformers_import
from raydistill.models.bert import ElasticBert, elastic_forward
from raydistill.models.export import (
    CODE_FILES,
    ExportResult,
    describe,
    export_subnet,
    load_exported,
    materialise,
)
from raydistill.models.flops import count_flops, params
from raydistill.models.hf_subnet import SubnetBertConfig, SubnetBertForSequenceClassification, SubnetError
from tests.conftest import TINY_VOCAB
from tests.unit.models.conftest import make_batch, make_model

ATOL = 1e-4
LAYERS, HEADS, FFN, LABELS = 4, 4, 64, 3
ARCHS = {
    "full": Arch.full(LAYERS, HEADS, FFN),
    "width_half": Arch.from_multipliers(0.5, 1.0, LAYERS, HEADS, FFN),  # 2 heads, 32 neurons everywhere
    "depth_half": Arch.from_multipliers(1.0, 0.5, LAYERS, HEADS, FFN),  # layers 1 and 3
    "uneven": Arch((0, 1, 3), (3, 1, 4), (40, 7, 64)),
    "single_head": Arch((2,), (1,), (1,)),
    "tokens": Arch((0, 1, 3), (3, 1, 4), (40, 7, 64), tokens=(1.0, 0.6, 0.3)),  # length-configured
}
WITH_ONNX = ("uneven", "single_head", "depth_half", "tokens")
QA_ARCH = ARCHS["uneven"]
QA_STOCK_ARCH = Arch((1, 3), (4, 4), (48, 48))  # all heads, one FFN width: a stock bert config holds it
QA_TOKENS_ARCH = Arch(
    (1, 2, 3), (4, 4, 4), (48, 48, 48), tokens=(0.8, 0.5, 0.5)
)  # stock widths, fewer tokens
STOCK = ("full", "depth_half", "qa_stock")  # exported as model_type "bert"; the others as "raydistill_bert"
QA = ("qa", "qa_stock", "qa_tokens")
TOKEN_EXPORTS = ("tokens", "qa_tokens")


def _model(kind: str) -> nn.Module:
    return make_model(kind, num_hidden_layers=LAYERS, **({"num_labels": LABELS} if kind != "qa" else {}))


def _stack(logits: Tensor | tuple[Tensor, Tensor]) -> np.ndarray:
    out = torch.stack(logits) if isinstance(logits, tuple) else logits
    return out.detach().numpy()


def _reference(model: nn.Module, arch: Arch, batch: dict[str, Tensor]) -> np.ndarray:
    with torch.no_grad():
        return _stack(elastic_forward(model, arch, **batch).logits)


def _run(script: str, tmp: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=tmp, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def supernet() -> nn.Module:
    return _model("classification")


@pytest.fixture(scope="module")
def qa_supernet() -> nn.Module:
    return _model("qa")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, supernet: nn.Module, qa_supernet: nn.Module) -> dict:
    root = tmp_path_factory.mktemp("exports")
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}, do_lower_case=True)
    out: dict[str, ExportResult] = {}
    for name, arch in ARCHS.items():
        formats = ("hf", "onnx") if name in WITH_ONNX else ("hf",)
        out[name] = export_subnet(
            supernet, arch, root / name, tokenizer=tokenizer, formats=formats, seq_len=16, task="mnli"
        )
    out["qa"] = export_subnet(qa_supernet, QA_ARCH, root / "qa", tokenizer=tokenizer, seq_len=16)
    out["qa_stock"] = export_subnet(
        qa_supernet, QA_STOCK_ARCH, root / "qa_stock", tokenizer=tokenizer, formats=("hf",), seq_len=16
    )
    out["qa_tokens"] = export_subnet(
        qa_supernet, QA_TOKENS_ARCH, root / "qa_tokens", tokenizer=tokenizer, seq_len=16
    )
    return out


def _arch_of(name: str) -> Arch:
    return {"qa": QA_ARCH, "qa_stock": QA_STOCK_ARCH, "qa_tokens": QA_TOKENS_ARCH}.get(name) or ARCHS[name]


@pytest.fixture(scope="module")
def fresh_hf_outputs(tmp_path_factory: pytest.TempPathFactory, exports: dict) -> dict[str, np.ndarray]:
    """Logits of every HF export, loaded by transformers' Auto classes in a new process after `import raydistill`."""
    tmp = tmp_path_factory.mktemp("fresh_hf")
    np.savez(tmp / "batch.npz", **{k: v.numpy() for k, v in make_batch().items()})
    dirs = {name: str(r.hf_dir) for name, r in exports.items()}
    _run(
        f"""
        import sys, numpy as np, raydistill
        assert "torch" not in sys.modules, "import raydistill must stay light"
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, AutoTokenizer
        batch = {{k: torch.from_numpy(v) for k, v in np.load("batch.npz").items()}}
        out = {{}}
        for name, path in {dirs!r}.items():
            auto = AutoModelForQuestionAnswering if name in {QA!r} else AutoModelForSequenceClassification
            model = auto.from_pretrained(path).eval()
            module = "bert.modeling_bert" if name in {STOCK!r} else "raydistill.models.hf_subnet"
            assert type(model).__module__.endswith(module), (name, type(model))
            assert AutoTokenizer.from_pretrained(path)("the movie")["input_ids"][0] == 2  # [CLS]
            with torch.no_grad():
                res = model(**batch)
            out[name] = torch.stack((res.start_logits, res.end_logits)) if name in {QA!r} else res.logits
        np.savez("out.npz", **{{k: v.numpy() for k, v in out.items()}})
        """,
        tmp,
    )
    return dict(np.load(tmp / "out.npz"))


NO_RAYDISTILL_SCRIPT = """
    import sys
    sys.modules["raydistill"] = None  # any `import raydistill` now raises ImportError
    try:
        import raydistill
        raise SystemExit("raydistill was importable")
    except ImportError:
        pass
    import numpy as np, torch
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification
    batch = {k: torch.from_numpy(v) for k, v in np.load("batch.npz").items()}
    out = {}
    for name, path in PATHS.items():
        auto = AutoModelForQuestionAnswering if name in QA else AutoModelForSequenceClassification
        stock = name in STOCK
        model = auto.from_pretrained(path, **({} if stock else {"trust_remote_code": True})).eval()
        where = type(model).__module__
        assert where.startswith("transformers.models.bert" if stock else "transformers_modules."), (name, where)
        with torch.no_grad():
            res = model(**batch)
        out[name] = torch.stack((res.start_logits, res.end_logits)) if name in QA else res.logits
    np.savez("out.npz", **{k: v.numpy() for k, v in out.items()})
"""


@pytest.fixture(scope="module")
def no_raydistill_outputs(tmp_path_factory: pytest.TempPathFactory, exports: dict) -> dict[str, np.ndarray]:
    """Logits of every HF export loaded by plain transformers in a process where raydistill cannot be imported.

    The `raydistill_bert` exports are copied to directories named as the pipeline names them
    (`budgetNN-<arch id>`: `@`, `,` and `-` in the name that transformers turns into a module name).
    """
    tmp = tmp_path_factory.mktemp("no_raydistill")
    np.savez(tmp / "batch.npz", **{k: v.numpy() for k, v in make_batch().items()})
    paths = {}
    for name, result in exports.items():
        target = tmp / name / f"budget25-{result.arch_id}"
        shutil.copytree(result.hf_dir, target)
        paths[name] = str(target)
    script = (
        textwrap.dedent(NO_RAYDISTILL_SCRIPT)
        .replace("PATHS", repr(paths))
        .replace("QA", repr(QA))
        .replace("STOCK", repr(STOCK))
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp / "hf_modules"),
    }
    _run(script, tmp, env=env)
    return dict(np.load(tmp / "out.npz"))


ORT_SCRIPT = """
    import sys
    sys.modules["raydistill"] = None  # any `import raydistill` now raises ImportError
    sys.modules["torch"] = None
    try:
        import raydistill
        raise SystemExit("raydistill was importable")
    except ImportError:
        pass
    import numpy as np, onnxruntime as ort
    out = {}
    for name, path in PATHS.items():
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        for i, batch in enumerate(BATCHES):
            feeds = dict(np.load(batch))
            out[f"{name}/{i}"] = np.stack(session.run(None, feeds))
        out[f"{name}/outputs"] = np.array([o.name for o in session.get_outputs()])
    np.savez("out.npz", **out)
"""
ORT_BATCHES = [(5, 23), (1, 7)]  # neither is the (2, 16) export-time dummy


@pytest.fixture(scope="module")
def ort_outputs(tmp_path_factory: pytest.TempPathFactory, exports: dict) -> dict[str, np.ndarray]:
    """onnxruntime outputs of every ONNX export, in a clean process without raydistill or torch."""
    tmp = tmp_path_factory.mktemp("ort")
    batches = []
    for i, (b, length) in enumerate(ORT_BATCHES):
        np.savez(tmp / f"batch{i}.npz", **{k: v.numpy() for k, v in make_batch(b, length, seed=7).items()})
        batches.append(f"batch{i}.npz")
    paths = {name: str(r.onnx_path) for name, r in exports.items() if r.onnx_path is not None}
    script = textwrap.dedent(ORT_SCRIPT).replace("PATHS", repr(paths)).replace("BATCHES", repr(batches))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp)}
    _run(script, tmp, env=env)
    return dict(np.load(tmp / "out.npz"))


# ---------------------------------------------------------------------------------------------- HF format
@pytest.mark.parametrize("name", list(ARCHS))
def test_fresh_process_hf_logits_match_elastic_forward(
    name: str, supernet: nn.Module, fresh_hf_outputs: dict[str, np.ndarray]
) -> None:
    expected = _reference(supernet, ARCHS[name], make_batch())
    assert fresh_hf_outputs[name].shape == expected.shape == (3, LABELS)
    np.testing.assert_allclose(fresh_hf_outputs[name], expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", QA)
def test_fresh_process_qa_logits_match_elastic_forward(
    name: str, qa_supernet: nn.Module, fresh_hf_outputs: dict[str, np.ndarray]
) -> None:
    expected = _reference(qa_supernet, _arch_of(name), make_batch())
    assert expected.shape == (2, 3, 10)  # (start, end) x (B, L)
    np.testing.assert_allclose(fresh_hf_outputs[name], expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", [*ARCHS, *QA])
def test_without_raydistill_plain_transformers_loads_both_kinds(
    name: str,
    supernet: nn.Module,
    qa_supernet: nn.Module,
    no_raydistill_outputs: dict[str, np.ndarray],
    fresh_hf_outputs: dict[str, np.ndarray],
) -> None:
    """Stock exports load with no extra code, the others with `trust_remote_code=True` and the shipped files;
    both match the supernet's sliced forward, and the shipped code gives raydistill's own logits."""
    model = qa_supernet if name in QA else supernet
    expected = _reference(model, _arch_of(name), make_batch())
    np.testing.assert_allclose(no_raydistill_outputs[name], expected, atol=ATOL, rtol=0)
    np.testing.assert_allclose(no_raydistill_outputs[name], fresh_hf_outputs[name], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", [*ARCHS, *QA])
def test_kind_config_and_shipped_code(name: str, exports: dict) -> None:
    """Stock: `model_type: bert`, no code, no auto_map. Otherwise the package's own layer code, byte for byte."""
    out = exports[name].out_dir
    config = json.loads((out / "config.json").read_text())
    manifest = json.loads((out / "export.json").read_text())
    if name in STOCK:
        assert config["model_type"] == "bert" and "auto_map" not in config
        assert config["architectures"][0] in ("BertForSequenceClassification", "BertForQuestionAnswering")
        assert not any((out / f).exists() for f in CODE_FILES)
        assert exports[name].kind == manifest["kind"] == "bert"
        return
    assert config["model_type"] == "raydistill_bert"
    assert exports[name].kind == manifest["kind"] == "raydistill_bert"
    task_class = "ForQuestionAnswering" if name in QA else "ForSequenceClassification"
    assert config["auto_map"] == {
        "AutoConfig": "hf_subnet.SubnetBertConfig",
        "AutoModel": "hf_subnet.SubnetBertModel",
        f"AutoModel{task_class}": f"hf_subnet.SubnetBert{task_class}",
    }
    shipped = (hf_subnet, elastic, token_selection, token_rule)  # with the relative imports of the layer code
    for module in shipped:  # shipped verbatim: the supernet's own layer code
        assert module.__file__ is not None
        assert (out / Path(module.__file__).name).read_bytes() == Path(module.__file__).read_bytes()
    assert {Path(m.__file__ or "").name for m in shipped} == set(CODE_FILES)
    tokens = _arch_of(name).tokens
    assert config["layer_tokens"] == (None if tokens is None else list(tokens))  # the per-layer fractions


def test_round_trip_keeps_every_weight_and_hidden_states(supernet: nn.Module, exports: dict) -> None:
    arch = ARCHS["uneven"]
    small = materialise(ElasticBert(supernet), arch)  # wrappers are looked through
    loaded = load_exported(exports["uneven"].hf_dir)
    assert loaded.source_arch == arch and loaded.tokenizer is not None
    assert loaded.arch == Arch((0, 1, 2), arch.heads, arch.ffn)  # the export's own layers
    mine, theirs = small.state_dict(), loaded.model.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:  # nothing re-initialised by from_pretrained / _init_weights
        assert torch.equal(mine[key], theirs[key]), key
    batch = make_batch()
    with torch.no_grad():
        ref = elastic_forward(supernet, arch, **batch, output_hidden_states=True)
        got = loaded.model(**batch, output_hidden_states=True, output_attentions=True)
    assert len(got.hidden_states) == len(ref.hidden_states) == 4
    for a, b in zip(got.hidden_states, ref.hidden_states, strict=True):
        assert torch.allclose(a, b, atol=ATOL)
    assert [a.shape[1] for a in got.attentions] == [3, 1, 4]  # per-layer head counts
    assert torch.allclose(got.attentions[0].sum(-1), torch.ones(3, 3, 10), atol=1e-5)


def test_state_dict_holds_only_sliced_shapes_renumbered(exports: dict) -> None:
    """The PaddleNLP #1466 failure: Q/K/V shapes must be the ones the loader's config builds."""
    model = load_exported(exports["uneven"].hf_dir).model
    sd, dh, d = model.state_dict(), 32 // HEADS, 32
    config = model.config
    assert config.model_type == "raydistill_bert" and config.num_hidden_layers == 3
    assert config.layer_heads == [3, 1, 4] and config.layer_ffn == [40, 7, 64]
    assert config.source_layers == [0, 1, 3] and Arch.from_json(config.source_arch) == ARCHS["uneven"]
    for i, (h, f) in enumerate(zip(config.layer_heads, config.layer_ffn, strict=True)):
        prefix = f"bert.encoder.layer.{i}."
        for proj in ("query", "key", "value"):
            assert sd[f"{prefix}attention.self.{proj}.weight"].shape == (h * dh, d)
            assert sd[f"{prefix}attention.self.{proj}.bias"].shape == (h * dh,)
        assert sd[f"{prefix}attention.output.dense.weight"].shape == (d, h * dh)
        assert sd[f"{prefix}intermediate.dense.weight"].shape == (f, d)
        assert sd[f"{prefix}output.dense.weight"].shape == (d, f)
    assert not any(k.startswith("bert.encoder.layer.3.") for k in sd)


def test_plain_bert_loader_refuses_the_export(exports: dict) -> None:
    """Loading with a config that ignores the per-layer widths fails loudly instead of re-initialising."""
    with pytest.raises(RuntimeError, match="mismatched"):
        BertForQuestionAnswering.from_pretrained(exports["qa"].hf_dir)


def test_exported_model_is_not_constant(exports: dict) -> None:
    for name in ("full", "single_head"):
        model = load_exported(exports[name].hf_dir).model
        with torch.no_grad():
            a = model(**make_batch(6, 12, seed=3)).logits
            b = model(**make_batch(6, 12, seed=4)).logits
        assert a.std(dim=0).min() > 1e-3, name  # different rows, different logits
        assert (a - b).abs().max() > 1e-2, name


# ---------------------------------------------------------------------------------------------- ONNX
@pytest.mark.parametrize("name", [*WITH_ONNX, "qa", "qa_tokens"])
@pytest.mark.parametrize("shape_index", range(len(ORT_BATCHES)))
def test_onnxruntime_without_raydistill_matches_elastic_forward(
    name: str,
    shape_index: int,
    supernet: nn.Module,
    qa_supernet: nn.Module,
    ort_outputs: dict[str, np.ndarray],
) -> None:
    b, length = ORT_BATCHES[shape_index]
    model = qa_supernet if name in QA else supernet
    expected = _reference(model, _arch_of(name), make_batch(b, length, seed=7))
    got = ort_outputs[f"{name}/{shape_index}"]
    if name not in QA:
        got = got[0]  # the single output `logits`
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


def test_onnx_graph_uses_plain_ops_and_dynamic_axes(
    exports: dict, ort_outputs: dict[str, np.ndarray]
) -> None:
    assert list(ort_outputs["qa/outputs"]) == ["start_logits", "end_logits"]
    assert list(ort_outputs["uneven/outputs"]) == ["logits"]
    proto = onnx.load(str(exports["uneven"].onnx_path))
    assert {node.domain for node in proto.graph.node} <= {"", "ai.onnx"}
    assert not proto.functions
    assert not any(node.metadata_props for node in proto.graph.node)  # no local stack traces shipped
    inputs = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert list(inputs) == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(dims[0] and dims[1] for dims in inputs.values())  # symbolic batch and sequence


@pytest.mark.parametrize("name", TOKEN_EXPORTS)
def test_length_configured_onnx_selects_tokens_per_example(
    name: str, exports: dict, ort_outputs: dict[str, np.ndarray], supernet: nn.Module, qa_supernet: nn.Module
) -> None:
    """The graph ranks and keeps tokens (TopK with a data-dependent k, the largest count in the batch) and
    scatters them back: plain ops, and outputs that differ from the same widths keeping every token."""
    proto = onnx.load(str(exports[name].onnx_path))
    ops = {node.op_type for node in proto.graph.node}
    assert {"TopK", "ScatterElements"} <= ops and {node.domain for node in proto.graph.node} <= {
        "",
        "ai.onnx",
    }
    assert "TopK" not in {node.op_type for node in onnx.load(str(exports["uneven"].onnx_path)).graph.node}
    arch = _arch_of(name)
    model = qa_supernet if name in QA else supernet
    all_tokens = _reference(model, Arch(arch.layers, arch.heads, arch.ffn), make_batch(5, 23, seed=7))
    got = ort_outputs[f"{name}/0"] if name in QA else ort_outputs[f"{name}/0"][0]
    assert got.shape == all_tokens.shape  # QA: (start, end) x (B, L), every position restored
    assert np.abs(got - all_tokens).max() > 1e-2


# ---------------------------------------------------------------------------------------------- sizes
def test_param_counts_match_flops_params(exports: dict, qa_supernet: nn.Module, supernet: nn.Module) -> None:
    for name, arch in ARCHS.items():
        result = exports[name]
        assert result.params == params(arch, supernet.config, num_labels=LABELS), name
        assert describe(result.out_dir).params == result.params
    assert exports["qa"].params == params(QA_ARCH, qa_supernet.config, head="qa")
    model = load_exported(exports["depth_half"].hf_dir).model
    assert sum(p.numel() for p in model.parameters()) == exports["depth_half"].params


@pytest.mark.parametrize(
    "chain",
    [
        ("full", "width_half", "single_head"),
        ("full", "depth_half", "single_head"),
        ("full", "uneven", "single_head"),
    ],
)
def test_params_and_files_shrink_with_the_arch(chain: tuple[str, ...], exports: dict) -> None:
    sizes = [(exports[n].params, exports[n].hf_bytes) for n in chain]
    for bigger, smaller in zip(sizes, sizes[1:], strict=False):
        assert bigger[0] > smaller[0] and bigger[1] > smaller[1]
    assert exports["uneven"].onnx_bytes > exports["single_head"].onnx_bytes > 0


def test_describe_reports_arch_and_files(exports: dict) -> None:
    info = describe(exports["uneven"].out_dir)
    assert info.arch_id == "L3@0,1,3-H3,1,4-F40,7,64" and info.head == "classification"
    assert info.files["model.safetensors"] == info.hf_bytes == exports["uneven"].hf_bytes
    assert info.files["model.onnx"] == info.onnx_bytes > 0
    assert {"config.json", "tokenizer_config.json", "export.json"} <= set(info.files)
    hf_only = describe(exports["width_half"].out_dir)
    assert hf_only.onnx_bytes == 0 and "model.onnx" not in hf_only.files
    assert json.loads((exports["qa"].out_dir / "export.json").read_text())["head"] == "qa"
    assert info.task == "mnli" and describe(exports["qa"].out_dir).task is None  # exported without a task
    assert info.kind == "raydistill_bert" and describe(exports["full"].out_dir).kind == "bert"


@pytest.mark.parametrize("name", [*ARCHS, *QA])
def test_loaded_arch_prices_like_the_exported_arch(
    name: str, exports: dict, supernet: nn.Module, qa_supernet: nn.Module
) -> None:
    """`load_exported(d).arch` fits the export's renumbered config: count_flops gives the source Arch's FLOPs."""
    head = "qa" if name in QA else "classification"
    teacher = qa_supernet if name in QA else supernet
    loaded = load_exported(exports[name].out_dir)
    assert loaded.source_arch == _arch_of(name)
    mine = count_flops(loaded.arch, loaded.model.config, 16, LABELS, head=head)
    theirs = count_flops(_arch_of(name), teacher.config, 16, LABELS, head=head)
    assert mine.flops == theirs.flops and mine.per_layer_macs == theirs.per_layer_macs


def test_cutting_a_stock_export_again_maps_back_to_the_source_layers(exports: dict, tmp_path: Path) -> None:
    stock = load_exported(exports["depth_half"].out_dir)  # source layers 1 and 3, its own 0 and 1
    again = export_subnet(stock.model, Arch((1,), (2,), (32,)), tmp_path / "again", formats=("hf",))
    assert again.kind == "raydistill_bert"
    assert load_exported(again.out_dir).source_arch == Arch((3,), (2,), (32,))


def test_reexport_as_stock_removes_shipped_code(supernet: nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "x"
    export_subnet(supernet, ARCHS["uneven"], out, formats=("hf",))
    assert all((out / f).is_file() for f in CODE_FILES)
    assert export_subnet(supernet, ARCHS["depth_half"], out, formats=("hf",)).kind == "bert"
    assert not any((out / f).exists() for f in CODE_FILES)
    assert isinstance(load_exported(out).model, BertForSequenceClassification)


def test_damaged_export_is_a_model_error(exports: dict, tmp_path: Path) -> None:
    out = tmp_path / "broken"
    shutil.copytree(exports["uneven"].out_dir, out)
    (out / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="cannot load the exported model"):
        load_exported(out)
    shutil.copy(exports["uneven"].out_dir / "model.safetensors", out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(config | {"layer_heads": [3, 1]}))
    with pytest.raises(ModelError, match="layer_heads"):
        load_exported(out)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (Arch((0, 4), (4, 4), (64, 64)), "layer index 4"),
        (Arch((0,), (5,), (64,)), "heads"),
        (Arch((0,), (4,), (65,)), "ffn"),
    ],
)
def test_arch_that_does_not_fit_raises(arch: Arch, match: str, supernet: nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ArchError, match=match):
        export_subnet(supernet, arch, tmp_path / "x", formats=("hf",))
    assert not (tmp_path / "x").exists()


def test_bad_inputs_raise_model_errors(supernet: nn.Module, tmp_path: Path) -> None:
    arch = ARCHS["full"]
    for formats in (("hf", "tflite"), (), "hf"):
        with pytest.raises(ModelError, match="formats"):
            export_subnet(supernet, arch, tmp_path / "x", formats=formats)
    with pytest.raises(ModelError, match="task head"):
        materialise(make_model("base", num_hidden_layers=LAYERS), arch)
    with pytest.raises(ModelError, match="not a raydistill export"):
        describe(tmp_path)
    small = materialise(supernet, arch)
    with pytest.raises(SubnetError, match="no loss"):
        small(**make_batch(), labels=torch.zeros(3, dtype=torch.long))
    with pytest.raises(SubnetError, match="position_ids"):
        small(**make_batch(), position_ids=torch.zeros(1, 10, dtype=torch.long))
    with pytest.raises(SubnetError, match="layer_heads"):
        SubnetBertConfig(num_hidden_layers=2, num_attention_heads=4, hidden_size=32, layer_heads=[1])


def test_registration_is_idempotent_when_transformers_is_loaded() -> None:
    register_on_transformers_import()
    register_on_transformers_import()
    assert CONFIG_MAPPING["raydistill_bert"] is SubnetBertConfig
    from transformers import AutoModelForSequenceClassification

    config: Any = SubnetBertConfig(num_hidden_layers=1, num_attention_heads=4, hidden_size=32, vocab_size=10)
    model = AutoModelForSequenceClassification.from_config(config)
    assert isinstance(model, SubnetBertForSequenceClassification)
