"""``docrag eval parsing`` on a subset of ../shared/data/docs: one file per format, plus the
files with an expected text or page count, plus one ICDAR 2013 file."""

from __future__ import annotations

from ci_strict import require
from docrag.eval.parsing import char_f1, run_parsing
from paths import DOCS


def test_char_f1() -> None:
    assert char_f1("The cat  sat.\n", "The cat sat.") == 1.0
    assert char_f1("", "") == 1.0
    assert char_f1("abc", "") == 0.0
    half = char_f1("The cat sat.", "The cat sat. The dog ran!!")
    assert 0.6 < half < 0.7  # all of the prediction is right, half of the expected text found


def test_eval_parsing_on_a_subset() -> None:
    require(DOCS.is_dir(), f"the evaluation set {DOCS}")
    report = run_parsing(DOCS, limit=1)
    rows = {row["format"]: row for row in report.rows()}
    summary = report.summary()
    assert summary["typed"] == 1.0, summary["untyped_files"]
    assert rows["pdf"]["text_f1"] >= 0.99 and rows["pdf"]["text_f1_files"] >= 2
    assert rows["pdf"]["page_accuracy"] >= 0.9
    assert rows["docx"]["text_f1"] >= 0.99 and rows["html"]["text_f1"] >= 0.99
    assert rows["png"]["refusals"] == {"ocr_disabled": rows["png"]["files"]}
    assert summary["table_files"] == 1 and summary["table_cell_f1"] is not None
