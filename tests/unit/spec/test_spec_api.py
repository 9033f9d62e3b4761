"""Good specs: defaults, canonical forms (dict, hash, YAML dump) and `validate_paths`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from raydistill.errors import SpecError
from raydistill.spec import Spec, check_spec, dump_spec, load_spec, spec_hash, spec_to_dict
from raydistill.spec.validate import validate_paths
from tests.unit.spec.conftest import MINIMAL

REPO = Path(__file__).resolve().parents[3]

FULL = """\
name: full.run-1
task: mrpc
data:
  source: hub
  max_seq_length: 64
  columns: {text_a: s1, text_b: s2}
teacher:
  model: bert-base-uncased
  train: {epochs: 2, batch_size: 16, learning_rate: 5.0e-5}
supernet:
  widths: [0.5, 1.0, 0.25]
  depths: [1.0, 0.5]
  sampling: sandwich
  length: {length_drop_ratio_bound: 0.3}
search:
  space: layerwise
  sampler: tpe
  budgets: [0.3, 0.6]
export:
  formats: [onnx]
resources:
  num_workers: 2
  use_gpu: true
seed: 7
"""


def test_minimal_spec_gets_paper_defaults(write) -> None:
    spec = load_spec(write(MINIMAL))
    assert isinstance(spec, Spec)
    assert (spec.name, spec.task, spec.teacher.model, spec.seed) == ("t", "sst2", "bert-base-uncased", 42)
    assert spec.data.source == "auto" and spec.data.path is None and spec.data.max_seq_length == 128
    assert spec.supernet.widths == [1.0, 0.75, 0.5, 0.25]  # DynaBERT widths
    assert spec.supernet.depths == [1.0, 0.75, 0.5]
    assert spec.supernet.length.length_drop_ratio_bound == 0.2  # LAT bound
    assert spec.supernet.train.epochs == 1.0 and spec.teacher.train.epochs == 3.0
    assert spec.search.budgets == [0.25, 0.5, 0.75] and spec.search.space == "width_depth"
    assert check_spec(write(MINIMAL)) == (spec, [])


def test_full_spec_and_widths_sorted(write) -> None:
    spec = load_spec(write(FULL))
    assert spec.supernet.widths == [1.0, 0.5, 0.25]  # sorted largest first
    assert spec.data.columns.text_b == "s2" and spec.supernet.length.length_drop_ratio_bound == 0.3
    assert spec.export.formats == ["onnx"]


@pytest.mark.parametrize("sampler", ["gp", "auto"])
def test_the_gp_and_auto_samplers_validate(write, sampler: str) -> None:
    spec, problems = check_spec(write(MINIMAL + f"search:\n  sampler: {sampler}\n"))
    assert problems == [] and spec is not None and spec.search.sampler == sampler


def test_repo_example_specs_parse() -> None:
    spec = load_spec(str(REPO / "searches" / "sst2.yaml"))
    assert spec.task == "sst2"


def test_spec_hash_is_stable_under_key_order(write) -> None:
    a = load_spec(write(MINIMAL + "search:\n  num_trials: 5\n  sampler: tpe\n", "a.yaml"))
    reordered = "teacher:\n  model: bert-base-uncased\nsearch:\n  sampler: tpe\n  num_trials: 5\ntask: sst2\nname: t\n"
    b = load_spec(write(reordered, "b.yaml"))
    assert spec_hash(a) == spec_hash(b)
    assert spec_hash(a, "data", "teacher") == spec_hash(b, "data", "teacher")
    assert len(spec_hash(a)) == 64 and int(spec_hash(a), 16) >= 0


def test_spec_hash_exclude_leaves_a_path_out(write) -> None:
    base = load_spec(write(MINIMAL + "search:\n  num_trials: 5\n", "a.yaml"))
    other = load_spec(write(MINIMAL + "search:\n  num_trials: 5\n  retrain: {epochs: 2}\n", "b.yaml"))
    assert spec_hash(base, "search") != spec_hash(other, "search")
    assert spec_hash(base, "search", exclude=("search.retrain",)) == spec_hash(
        other, "search", exclude=("search.retrain",)
    )
    assert spec_hash(base, "search", exclude=("search.retrain",)) != spec_hash(base, "search")
    with pytest.raises(ValueError, match="unknown section"):
        spec_hash(base, "search", exclude=("search.retrian",))


def test_spec_hash_matches_an_independent_computation(write) -> None:
    spec = load_spec(write(MINIMAL))
    expected = hashlib.sha256(
        json.dumps({"seed": 42, "task": "sst2"}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert spec_hash(spec, "task", "seed") == expected


def test_a_field_added_at_its_neutral_value_leaves_the_keys_as_before(write) -> None:
    from raydistill.spec.canonical import NEUTRAL_ADDITIONS, keyed_dict

    spec = load_spec(write(MINIMAL))
    assert spec.supernet.length.hidden_weight == NEUTRAL_ADDITIONS["supernet.length.hidden_weight"] == 0.0
    length = {k: v for k, v in spec_to_dict(spec)["supernet"]["length"].items() if k != "hidden_weight"}
    assert keyed_dict(spec)["supernet"]["length"] == length  # the key reads what it read before the field
    before = {"supernet": {**spec_to_dict(spec)["supernet"], "length": length}}  # the section as it was
    expected = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert spec_hash(spec, "supernet") == expected
    weighted = load_spec(write(MINIMAL), ["supernet.length.hidden_weight=0.5"])
    assert keyed_dict(weighted)["supernet"]["length"]["hidden_weight"] == 0.5
    assert spec_hash(weighted, "supernet") != spec_hash(spec, "supernet")


def test_spec_hash_follows_the_chosen_sections(write) -> None:
    base = load_spec(write(MINIMAL))
    changed = load_spec(write(MINIMAL), ["search.num_trials=7"])
    assert spec_hash(base) != spec_hash(changed)
    assert spec_hash(base, "search") != spec_hash(changed, "search")
    assert spec_hash(base, "data", "teacher") == spec_hash(changed, "data", "teacher")
    assert spec_hash(base, "supernet.train") != spec_hash(base, "teacher.train")  # dotted sections
    assert spec_hash(base, "task") != spec_hash(base, "name")  # section names are part of the hash
    with pytest.raises(ValueError, match="unknown section 'serch'"):
        spec_hash(base, "serch")


def test_dump_load_round_trip(write) -> None:
    spec = load_spec(write(FULL, "full.yaml"))
    text = dump_spec(spec)
    again = load_spec(write(text, "dumped.yaml"))
    assert again == spec
    assert spec_to_dict(again) == spec_to_dict(spec)
    assert dump_spec(again) == text
    assert text.startswith("name: full.run-1\ntask: mrpc\n")  # field order kept, not sorted


def test_spec_to_dict_is_plain_json(write) -> None:
    d = spec_to_dict(load_spec(write(MINIMAL)))
    assert json.loads(json.dumps(d)) == d
    assert d["supernet"]["train"]["epochs"] == 1.0 and d["search"]["retrain"] is None


def test_load_spec_raises_spec_error(write) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write("name: t\n"))
    assert len(info.value.problems) == 2  # task and teacher both missing


def test_validate_paths(write, capsys) -> None:
    good = write(MINIMAL, "good.yaml")
    bad = write(MINIMAL + "seed: x\n", "bad.yaml")
    assert validate_paths([good]) == 0
    out, err = capsys.readouterr()
    assert out == f"OK {good}\n" and err == ""
    assert validate_paths([good, bad, bad + ".missing"]) == 2
    out, err = capsys.readouterr()
    assert out == f"OK {good}\n"
    assert err.splitlines()[0].startswith(f"{bad}:5: seed: ")
    assert err.splitlines()[1].startswith(f"{bad}.missing:1: (file): file not found")
    assert validate_paths([good], ["seed=x"]) == 2
    assert capsys.readouterr().err.startswith(f"{good}:override 1: seed: ")
    assert validate_paths([]) == 2


def test_one_cost_length_defaults_to_the_data_length(write) -> None:  # type: ignore[no-untyped-def]
    assert load_spec(write(MINIMAL + "data:\n  max_seq_length: 96\n")).cost_seq_length == 96
    spec = load_spec(write(MINIMAL + "data:\n  max_seq_length: 96\ncost:\n  seq_length: 128\n"))
    assert spec.cost_seq_length == 128
