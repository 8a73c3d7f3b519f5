"""Look at a cdr-train report in a real browser: a 1280 px screenshot and a layout check.

Headless Chromium (Debian's ``chromium`` package) opens ``report.html`` at a
window 1280 px wide, measures in the page whether any table is wider than the
text column (whose columns would be cut off), prints the verdict, and saves a
screenshot of the whole page.  Run:

    make report-shot                                   # demo-out/model/report.html
    .venv/bin/python pipelines/report_shot.py REPORT.html -o shot.png

Without a report (no argument, and no demo-out), it makes a small one from a
generated table with cdr-train.  Exit status 1 when a table overflows.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH = 1280
PROBE = """<script>addEventListener('load', () => {
  const body = document.body.getBoundingClientRect().width;
  const over = [...document.querySelectorAll('table')].map((t, i) => [i, t.scrollWidth,
    t.getBoundingClientRect().width, t.parentElement.clientWidth])
    .filter(([i, sw, w, pw]) => sw > Math.ceil(w) + 1 || w > pw + 1);
  const pre = document.createElement('pre'); pre.id = 'layout-probe';
  pre.textContent = JSON.stringify({tables: document.querySelectorAll('table').length,
    overflowing: over, height: document.documentElement.scrollHeight, body: body});
  document.body.appendChild(pre);
});</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("chromium not found: install it (Debian/Ubuntu: sudo apt-get install chromium)")


def _run(args: list[str]) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--force-device-scale-factor=1", "--virtual-time-budget=5000"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True,
                          timeout=120, check=True).stdout


def measure(report: Path) -> dict:
    """Load ``report`` at 1280 px in Chromium; tables that overflow and the page height."""
    page = report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=report.parent,
                                     delete=False) as fh:
        fh.write(page)
    try:
        dom = _run([f"--window-size={WIDTH},1000", "--dump-dom", Path(fh.name).as_uri()])
    finally:
        Path(fh.name).unlink()
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom, re.S)
    if not found:
        raise SystemExit(f"{report}: the page did not finish loading in Chromium")
    return json.loads(found.group(1).replace("&quot;", '"'))


def screenshot(report: Path, png: Path, height: int) -> Path:
    """Save the whole page, ``WIDTH`` px wide, as ``png``."""
    _run([f"--window-size={WIDTH},{height}", f"--screenshot={png.resolve()}", report.as_uri()])
    return png


def _small_report(folder: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tables import make_feature_table  # the test suite's generated tables

    from cdr.cli import train

    table, labels = make_feature_table(signal={"coupling": 1.5}, flip=True, seed=5)
    table.attrs["dataset"] = {"synthetic": True, "source": "report_shot.py",
                              "note": "A generated feature table, to check the layout."}
    table.to_parquet(folder / "features.parquet")
    labels.reset_index().to_csv(folder / "labels.csv", index=False)
    train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                "-o", str(folder / "model"), "--ablation", "--permutations", "19",
                "--ablation-permutations", "19", "--jobs", "2"])
    return folder / "model" / "report.html"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", nargs="?", type=Path, default=Path("demo-out/model/report.html"))
    ap.add_argument("-o", "--out", type=Path, default=Path("report-shot.png"))
    args = ap.parse_args(argv)
    report = args.report
    if not report.exists():
        tmp = Path(tempfile.mkdtemp(prefix="cdr-report-"))
        print(f"{report} not found; making a small report in {tmp}", file=sys.stderr)
        report = _small_report(tmp)
    m = measure(report.resolve())
    screenshot(report.resolve(), args.out, m["height"])
    print(f"{report}: {m['tables']} tables at {WIDTH} px, {len(m['overflowing'])} wider than "
          f"the text column; page {m['height']} px high -> {args.out}")
    for i, sw, w, pw in m["overflowing"]:
        print(f"  table {i + 1}: content {sw} px in a {w:.0f} px table, column {pw} px")
    return 1 if m["overflowing"] else 0


if __name__ == "__main__":
    sys.exit(main())
