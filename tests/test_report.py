"""The report a clinical researcher reads, rendered by cdr-train on small cohorts."""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cdr.cli import train
from tables import SYNTHETIC_GROUPS, make_feature_table


class _Tables(HTMLParser):
    """Every <table> of a page as a list of rows of cell texts, and each table's heading."""

    def __init__(self):
        super().__init__()
        self.tables, self.headings, self._cell, self._heading = [], [], None, ""
        self._in_h = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
            self.headings.append(self._heading)
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag in ("h2", "h3"):
            self._in_h, self._heading = True, ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None
        elif tag in ("h2", "h3"):
            self._in_h = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        elif self._in_h:
            self._heading += data


def _frames(page: str) -> list[tuple[str, pd.DataFrame]]:
    p = _Tables()
    p.feed(page)
    return [(h, pd.DataFrame(t[1:], columns=t[0])) for h, t in zip(p.headings, p.tables)]


def _train(folder, table, labels, synthetic: bool, ablation: bool):
    if synthetic:
        table.attrs["dataset"] = {"synthetic": True, "note": "Generated for a test.",
                                  "source": "cohort.json"}
    folder.mkdir()
    table.to_parquet(folder / "features.parquet")
    labels.reset_index().to_csv(folder / "labels.csv", index=False)
    rc = train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                     "-o", str(folder / "model"),
                     *(["--ablation"] * ablation), "--permutations", "0",
                     "--ablation-permutations", "0", "--repeats", "2", "--jobs", "1"])
    assert rc == 0
    return folder / "model"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    table, labels = make_feature_table((9, 8, 4), signal={"coupling": 1.5}, flip=True,
                                                seed=5)
    return (_train(root / "synthetic", table.copy(), labels, True, ablation=False),
            _train(root / "real", table.copy(), labels, False, ablation=True))


def test_banner_only_for_synthetic_data(reports, capsys):
    synthetic, real = (m / "report.html" for m in reports)
    page = synthetic.read_text()
    assert page.count('class="banner"') == 1
    assert "SYNTHETIC DATA: Generated for a test." in page
    assert "SYNTHETIC DATA" in (reports[0] / "report.md").read_text()
    assert "SYNTHETIC" not in real.read_text() and "banner" not in real.read_text().split(
        "</style>")[1]


def test_binary_task_carries_auc_and_rates_with_intervals(reports):
    model = reports[1]
    page = (model / "report.html").read_text()
    screen = dict((h, f) for h, f in _frames(page))["Screening figures (positive: CDR >= 1)"]
    screen = screen.set_index("measure")
    preds = pd.read_csv(model / "predictions.csv")
    b = preds[preds.task == "binary"]
    auc = roc_auc_score(b.true_class == ">=1", b["p_cdr_>=1"])
    assert float(screen.loc["ROC AUC", "value"]) == pytest.approx(auc, abs=5e-4)
    lo, hi = map(float, screen.loc["ROC AUC", "95% interval"].split(" - "))
    assert lo <= auc <= hi
    called = b["p_cdr_>=1"] >= 0.5
    positive = b.true_class == ">=1"
    sens = (called & positive).sum() / positive.sum()
    spec = (~called & ~positive).sum() / (~positive).sum()
    for name, value in (("sensitivity", sens), ("specificity", spec)):
        row = screen.loc[[i for i in screen.index if i.startswith(name)][0]]
        assert float(row["value"].rstrip("%")) == pytest.approx(100 * value, abs=0.05)
        lo, hi = (float(v.rstrip("%")) for v in row["95% interval"].split(" - "))
        assert lo <= 100 * value <= hi and hi - lo > 5
    assert (model / "roc_binary.png").stat().st_size > 1000
    assert 'src="roc_binary.png"' in page
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["binary"]["screening"]["auc"] == pytest.approx(auc)


def test_predicted_classes_agree_with_the_printed_probabilities(reports):
    page = (reports[1] / "report.html").read_text()
    shown = [(h, f) for h, f in _frames(page) if "predicted CDR" in f.columns]
    assert [h for h, _ in shown] == ["Task cdr3", "Task binary"]
    for _, f in shown:
        pcols = [c for c in f.columns if c.startswith("p(CDR ")]
        printed = f[pcols].astype(float).to_numpy()
        own = np.array([printed[i, pcols.index(f"p(CDR {c})")]
                        for i, c in enumerate(f["predicted CDR"])])
        agree = own == printed.max(axis=1)  # the class printed with the highest probability (ties)
        explained = f["note"].str.contains("not the highest probability") if "note" in f else \
            pd.Series(False, index=f.index)
        assert (agree | explained.to_numpy()).all()
    assert ("the class with the highest probability" in page
            or "where that is not the class of highest probability, the row says so" in page)


def test_headline_importance_and_layout(reports):
    page = (reports[1] / "report.html").read_text()
    headline = html.unescape(re.search(r"<h2>Headline result</h2>\s*<p>(.*?)</p>", page,
                                       re.S).group(1))
    assert "with the mirrored #flip copies in training" in headline
    assert "The ablation's 'all' rows use the same groups without the #flip copies" in headline
    imp = next(f for h, f in _frames(page) if h.startswith("Task binary (training"))
    assert sorted(imp.group) == sorted(SYNTHETIC_GROUPS)
    assert "Descriptive:" in page
    assert "overflow-wrap:break-word" in page and "@media print" in page
    assert "What these numbers can and cannot support" in page


def test_held_out_sentence_says_right_or_wrong_and_the_out_of_fold_precision():
    from cdr.report_sections import held_out_sentence

    oof = pd.DataFrame({"task": "cdr3", "true_class": ["1", "1", "0.5", "2", "1"],
                        "predicted_class": ["1", "0.5", "1", "1", "2"]})
    text = held_out_sentence("1", "1", oof, "cdr3")
    assert "the prediction is right" in text
    assert "1 of the 3 videos predicted CDR 1 were CDR 1 (33%)" in text
    assert "the prediction is wrong" in held_out_sentence("0.5", "1", oof, "cdr3")
    assert "never predicted CDR 3" in held_out_sentence("3", "1", oof, "cdr3")


@pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser")),
                    reason="headless Chromium is not installed (apt-get install chromium)")
def test_every_table_fits_1280_px_in_chromium(reports, tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "pipelines" / "report_shot.py"
    spec = importlib.util.spec_from_file_location("report_shot", path)
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    m = shot.measure(reports[1] / "report.html")
    assert m["tables"] >= 10 and m["overflowing"] == []
    old = tmp_path / "old.html"  # the earlier page: the ablation table ran off it
    old.write_text(re.sub(r"<style>.*?</style>", "<style>body{max-width:60em}</style>",
                          (reports[1] / "report.html").read_text(), flags=re.S
                          ).replace("<wbr>", ""))
    assert shot.measure(old)["overflowing"] != []
