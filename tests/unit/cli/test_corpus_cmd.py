"""`raydistill corpus OUT SOURCE...`: one summary line (a note for a SQuAD file read whole); mistakes exit 2."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from raydistill.cli import app
from tests.unit.data.conftest import SENTIMENT, squad_articles, squad_json

runner = CliRunner()


def _data(tmp_path: Path) -> tuple[Path, Path]:
    """An SST-2 folder (train + dev) and a SQuAD file of 5 articles sharing one context."""
    sst2 = tmp_path / "SST-2"
    sst2.mkdir()
    (sst2 / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in SENTIMENT))
    (sst2 / "dev.tsv").write_text("sentence\tlabel\nvery good\t1\n")
    train, dev = squad_articles()
    squad = tmp_path / "dev-v1.1.json"
    squad.write_text(squad_json(train + dev))
    return sst2, squad


def test_corpus_writes_the_file_and_one_summary_line(tmp_path: Path) -> None:
    sst2, squad = _data(tmp_path)
    out = tmp_path / "corpus.txt"
    result = runner.invoke(
        app, ["corpus", str(out), str(sst2), str(squad), "--questions", "--articles", "0-3", "--max-lines", "12"]
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:10] == [t for t, _ in SENTIMENT] and len(lines) == 12
    assert lines[10].startswith("one two three") and lines[11] == "what is the capital ?"
    (summary,) = result.output.splitlines()
    assert summary.startswith(f"wrote 12 lines ({out.stat().st_size:,} bytes) to {out} from 2 sources: ")
    assert "(sst2 train.tsv: 10 lines)" in summary
    assert "(squad contexts + questions of articles 0-3: 9 lines)" in summary
    assert "6 duplicate lines dropped; 1 more lines left out by --max-lines" in summary


def test_a_squad_file_read_whole_gets_a_note(tmp_path: Path) -> None:
    _, squad = _data(tmp_path)
    result = runner.invoke(app, ["corpus", str(tmp_path / "c.txt"), str(squad)])
    assert result.exit_code == 0, result.output
    note, summary = result.output.splitlines()
    assert note.startswith(f"note: {squad}: every article (0-4) is in the corpus")
    assert "squad contexts of every article" in summary


def test_corpus_mistakes_exit_2_with_one_error_line(tmp_path: Path) -> None:
    sst2, _ = _data(tmp_path)
    for args, message in [
        ([str(sst2 / "dev.tsv")], "is an evaluation split"),
        ([str(tmp_path / "missing.json")], "no such file or folder"),
    ]:
        result = runner.invoke(app, ["corpus", str(tmp_path / "c.txt"), *args])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and message in result.output, result.output
        assert "Traceback" not in result.output and not (tmp_path / "c.txt").exists()
    result = runner.invoke(app, ["corpus", str(tmp_path / "c.txt"), str(sst2 / "dev.tsv"), "--allow-eval-splits"])
    assert result.exit_code == 0 and (tmp_path / "c.txt").read_text() == "very good\n"
