"""Every local format, read from tiny files, and every DataError naming file and line."""

from __future__ import annotations

import json
import re

import pytest

from raydistill.data import Example, get_task, peek_columns, read_csv, read_jsonl, read_squad, read_tsv
from raydistill.data.readers import parse_article_slice
from raydistill.errors import DataError

from .conftest import CONTEXT, squad_json


def test_sst2_header_and_int_labels(write) -> None:
    p = write("train.tsv", "sentence\tlabel\nit 's a charming journey . \t1\nbleak \t0\n")
    assert read_tsv(p, get_task("sst2"), "train") == [
        Example("train-0", "it 's a charming journey . ", None, 1),
        Example("train-1", "bleak ", None, 0),
    ]


def test_cola_has_no_header(write) -> None:
    p = write("dev.tsv", "gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tThe more books I ask.\n")
    ex = read_tsv(p, get_task("cola"), "dev")
    assert [(e.text_a, e.label) for e in ex] == [
        ("The sailors rode the breeze.", 1),
        ("The more books I ask.", 0),
    ]


def test_mrpc_dev_with_bom_and_stray_quotes(write) -> None:
    text = (
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        "1\t1355540\t1355592\tHe said the pie business doesn 't fit .\t\" The pie business does not fit .\n"
        '0\t2029631\t2029565\tHe was " 100 percent behind " Bush .\tHis wife said so .\n'
    )
    ex = read_tsv(write("MRPC/dev.tsv", text, bom=True), get_task("mrpc"), "dev")
    assert ex[0].text_b == '" The pie business does not fit .'
    assert ex[1].text_a == 'He was " 100 percent behind " Bush .'
    assert [e.label for e in ex] == [1, 0]


def test_rte_word_labels_map_to_glue_order(write) -> None:
    text = "index\tsentence1\tsentence2\tlabel\n"
    text += "0\tA man sleeps.\tA man rests.\tentailment\n1\tX.\tY.\tnot_entailment\n"
    ex = read_tsv(write("dev.tsv", text), get_task("rte"), "dev")
    assert [(e.text_a, e.text_b, e.label) for e in ex] == [
        ("A man sleeps.", "A man rests.", 0),
        ("X.", "Y.", 1),
    ]


def test_qnli_wnli_mnli_qqp_layouts(write) -> None:
    qnli = write("q.tsv", "index\tquestion\tsentence\tlabel\n0\tWhat?\tThat.\tnot_entailment\n")
    assert read_tsv(qnli, get_task("qnli"))[0] == Example("train-0", "What?", "That.", 1)
    wnli = write("w.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\t1\n")
    assert read_tsv(wnli, get_task("wnli"))[0].label == 1  # 1 = entailment, GLUE's id
    header = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
    mnli = write(
        "m.tsv",
        header + "0\t1\t1n\tfiction\tP.\tH.\tneutral\tneutral\n1\t2\t2c\tslate\tP2.\tH2.\tx\tcontradiction\n",
    )
    assert [e.label for e in read_tsv(mnli, get_task("mnli"))] == [1, 2]
    qqp = write("qq.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tHow?\tWhy?\t1\n")
    assert read_tsv(qqp, get_task("qqp"))[0] == Example("train-0", "How?", "Why?", 1)


def test_stsb_many_columns_float_scores(write) -> None:
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    rows = "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane.\tAn air plane.\t5.000\n"
    rows += "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA flute.\tA large flute.\t3.800\n"
    ex = read_tsv(write("train.tsv", header + rows), get_task("stsb"))
    assert [(e.text_a, e.text_b, e.label) for e in ex] == [
        ("A plane.", "An air plane.", 5.0),
        ("A flute.", "A large flute.", 3.8),
    ]
    assert isinstance(ex[0].label, float)


def test_chnsenticorp(write) -> None:
    ex = read_tsv(
        write("dev.tsv", "label\ttext_a\n1\t這間酒店環境不錯\n0\t房间太小\n"), get_task("chnsenticorp"), "dev"
    )
    assert [(e.text_a, e.label) for e in ex] == [("這間酒店環境不錯", 1), ("房间太小", 0)]


def test_csv_with_column_mapping_and_quotes(write) -> None:
    p = write("d.csv", 'id,review,sentiment\n1,"good, very good",positive\n2,bad,0\n')
    ex = read_csv(p, get_task("sst2"), "train", {"text_a": "review", "label": "sentiment", "text_b": None})
    assert [(e.text_a, e.label) for e in ex] == [("good, very good", 1), ("bad", 0)]


def test_jsonl_with_mapping_and_default_columns(write) -> None:
    lines = [{"premise": "P.", "hypo": "H.", "y": "contradiction"}, {"premise": "Q.", "hypo": "I.", "y": 0}]
    p = write("d.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    ex = read_jsonl(p, get_task("mnli"), "dev", {"text_b": "hypo", "label": "y"})
    assert [(e.guid, e.text_a, e.text_b, e.label) for e in ex] == [
        ("dev-0", "P.", "H.", 2),
        ("dev-1", "Q.", "I.", 0),
    ]
    p2 = write("s.jsonl", json.dumps({"sentence1": "a", "sentence2": "b", "label": 2.5}) + "\n")
    assert read_jsonl(p2, get_task("stsb"))[0].label == 2.5


def test_squad_json_and_article_slices(write) -> None:
    articles = [(f"a{k}", CONTEXT, [(f"q{k}", "what is the capital ?", "paris")]) for k in range(5)]
    p = write("dev-v1.1.json", squad_json(articles))
    ex = read_squad(p)
    assert [e.qid for e in ex] == ["q0", "q1", "q2", "q3", "q4"]
    assert ex[0].answers == [{"text": "paris", "answer_start": CONTEXT.index("paris")}]
    assert ex[0].title == "a0" and ex[0].context == CONTEXT
    name, articles_slice = parse_article_slice(f"{p}[1:3]")
    assert name == str(p) and articles_slice == slice(1, 3)
    assert [e.qid for e in read_squad(name, articles_slice)] == ["q1", "q2"]
    assert parse_article_slice("x.json[38:]") == ("x.json", slice(38, None))
    assert parse_article_slice("x.json") == ("x.json", None)


def test_peek_columns(write) -> None:
    assert peek_columns(write("a.tsv", "\ufeffQuality\t#1 String\nx\ty\n")) == ["Quality", "#1 String"]
    assert peek_columns(write("a.csv", "text,label\nx,1\n")) == ["text", "label"]
    assert peek_columns(write("a.jsonl", '{"t": 1, "label": 0}\n')) == ["t", "label"]


# ---- errors: the message names the file and the line -------------------------------------------------------


def _raises(fn, *args, match: str, where: str) -> str:
    with pytest.raises(DataError) as err:
        fn(*args)
    msg = str(err.value)
    assert where in msg, msg
    assert re.search(match, msg), msg
    return msg


def test_missing_and_empty_files(tmp_path, write) -> None:
    _raises(read_tsv, tmp_path / "nope.tsv", get_task("sst2"), match="no such file", where="nope.tsv")
    _raises(read_tsv, write("e.tsv", ""), get_task("sst2"), match="empty file", where="e.tsv:1")
    _raises(
        read_tsv, write("h.tsv", "sentence\tlabel\n"), get_task("sst2"), match="no examples", where="h.tsv"
    )
    _raises(read_squad, write("e.json", ""), match="empty file", where="e.json")


def test_missing_column(write) -> None:
    p = write("m.tsv", "text\tlabel\nhi\t1\n")
    msg = _raises(read_tsv, p, get_task("sst2"), match="missing column 'sentence'", where="m.tsv:1")
    assert "data.columns.text_a" in msg and "['text', 'label']" in msg
    _raises(
        read_csv,
        write("m.csv", "a,b\nx,1\n"),
        get_task("sst2"),
        match="missing column 'sentence'",
        where="m.csv:1",
    )


def test_unknown_label(write) -> None:
    p = write("u.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tneutral\n")
    msg = _raises(read_tsv, p, get_task("rte"), match="unknown label 'neutral'", where="u.tsv:3")
    assert "not_entailment" in msg
    _raises(
        read_tsv,
        write("v.tsv", "sentence\tlabel\nx\t2\n"),
        get_task("sst2"),
        match="unknown label '2'",
        where="v.tsv:2",
    )


def test_wrong_field_count(write) -> None:
    p = write("w.tsv", "sentence\tlabel\nfine\t1\nstray\ttab\t0\n")
    _raises(read_tsv, p, get_task("sst2"), match="3 fields, expected 2", where="w.tsv:3")
    cola = write("c.tsv", "gj04\t1\t\tok.\ngj04\t1\tmissing a field\n")
    _raises(read_tsv, cola, get_task("cola"), match="3 fields, expected 4", where="c.tsv:2")
    _raises(
        read_csv,
        write("w.csv", "sentence,label\na,1\nb\n"),
        get_task("sst2"),
        match="1 fields",
        where="w.csv:3",
    )


def test_bad_float(write) -> None:
    p = write("s.tsv", "sentence1\tsentence2\tscore\na\tb\t1.5\nc\td\thigh\n")
    _raises(read_tsv, p, get_task("stsb"), match="bad float 'high'", where="s.tsv:3")


def test_jsonl_errors(write) -> None:
    p = write("b.jsonl", '{"sentence": "a", "label": 1}\n{"sentence": "b", label: 0}\n')
    _raises(read_jsonl, p, get_task("sst2"), match="bad JSON", where="b.jsonl:2")
    q = write("k.jsonl", '{"sentence": "a", "label": 1}\n\n{"text": "b", "label": 0}\n')
    _raises(read_jsonl, q, get_task("sst2"), match="missing column 'sentence'", where="k.jsonl:3")


def test_squad_errors(write) -> None:
    _raises(
        read_squad,
        write("b.json", '{"data": [\n  {"title": "x",\n  oops}]}'),
        match="bad JSON",
        where="b.json:3",
    )
    broken = {
        "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": []}]}]}]
    }
    _raises(
        read_squad,
        write("k.json", json.dumps(broken)),
        match="missing key 'id'",
        where="$.data[0].paragraphs[0].qas[0]",
    )


def test_columns_on_headerless_file_and_unknown_key(write) -> None:
    cola = write("c.tsv", "gj04\t1\t\tok.\n")
    _raises(read_tsv, cola, get_task("cola"), "dev", {"text_a": "sentence"}, match="no header", where="c.tsv")
    sst = write("s.tsv", "sentence\tlabel\nok\t1\n")
    _raises(read_tsv, sst, get_task("sst2"), "train", {"txt": "x"}, match="unknown key", where="txt")


def test_not_utf8(write, tmp_path) -> None:
    p = tmp_path / "latin.tsv"
    p.write_bytes("sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    _raises(read_tsv, p, get_task("sst2"), match="not UTF-8", where="latin.tsv")
