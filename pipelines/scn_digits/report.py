"""Tables and figures from a ``run.py`` output folder (Markdown to stdout and ``tables.md``).

    python pipelines/scn_digits/report.py out/scn_digits [--figures docs]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

MARK = {True: "✓", False: "–"}
SWITCHES = {  # method -> (weight, rank, relabel, scope)
    "baseline": (False, False, False, ""), "relabel": (False, False, True, "batch"),
    "weight": (True, False, False, ""), "weight+rank": (True, True, False, ""),
    "weight+relabel": (True, False, True, "low"), "scn": (True, True, True, "low"),
    "scn-relabel-all": (True, True, True, "batch"), "scn-margin0.07": (True, True, True, "low, δ1 = 0.07"),
}


def pm(x: pd.Series, scale: float = 100.0, nd: int = 1) -> str:
    x = x.dropna() * scale
    return f"{x.mean():.{nd}f} ± {x.std(ddof=1):.{nd}f}" if len(x) > 1 else f"{x.mean():.{nd}f}"


def table2(r: pd.DataFrame) -> str:
    t2 = r[r.method.isin(["baseline", "scn"])]
    lines = ["| noise | ResNet-18 baseline (%) | SCN (%) | SCN − baseline (points, paired by seed) | seeds |",
             "|---|---|---|---|---|"]
    for n, g in t2.groupby("noise"):
        b = g[g.method == "baseline"].set_index("seed").test_accuracy
        s = g[g.method == "scn"].set_index("seed").test_accuracy
        common = b.index.intersection(s.index)
        lines.append(f"| {n:.0%} | {pm(b)} | {pm(s)} | {pm(s[common] - b[common])} | {len(common)} |")
    return "\n".join(lines)


def ablation(r: pd.DataFrame, noise: float, seed: int) -> str:
    a = r[(r.noise == noise) & (r.seed == seed)].set_index("method")
    lines = ["| weight | rank | relabel | test accuracy (%) | relabelled | precision | flipped corrected |",
             "|---|---|---|---|---|---|---|"]
    for m, (w, rk, rl, scope) in SWITCHES.items():
        if m not in a.index:
            continue
        x = a.loc[m]
        rel = f"{MARK[rl]} {scope}".strip()
        prec = "" if not rl else f"{x.relabel_precision:.3f}"
        corr = "" if not rl else f"{x.flipped_corrected:.3f}"
        lines.append(f"| {MARK[w]} | {MARK[rk]} | {rel} | {100 * x.test_accuracy:.1f} | {int(x.relabelled)} "
                     f"| {prec} | {corr} |")
    return "\n".join(lines)


def relabel_table(r: pd.DataFrame) -> str:
    s = r[(r.method == "scn") & (r.noise > 0)]
    lines = ["| noise | flipped | relabelled | precision | flipped corrected | clean relabelled wrongly |",
             "|---|---|---|---|---|---|"]
    for n, g in s.groupby("noise"):
        lines.append(f"| {n:.0%} | {g.flipped.mean():.0f} | {pm(g.relabelled, 1, 0)} | {pm(g.relabel_precision, 1, 3)} "
                     f"| {pm(g.flipped_corrected, 1, 3)} | {pm(g.clean_corrupted, 1, 0)} |")
    return "\n".join(lines)


def alpha_table(r: pd.DataFrame, noise: float) -> str:
    s = r[(r.noise == noise) & r.alpha_clean_mean.notna()]
    lines = ["| method | seeds | mean α, clean labels | mean α, flipped labels |", "|---|---|---|---|"]
    for m, g in s.groupby("method", sort=False):
        lines.append(f"| {m} | {len(g)} | {pm(g.alpha_clean_mean, 1, 3)} | {pm(g.alpha_flipped_mean, 1, 3)} |")
    return "\n".join(lines)


def alpha_figure(arr: dict, noise: float, seed: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, (m, title) in zip(axes, [("weight+rank", "SCN without relabelling"), ("scn", "SCN with relabelling")]):
        key = f"{m}|{noise}|{seed}"
        if f"{key}|alpha" not in arr:
            continue
        alpha, flipped = arr[f"{key}|alpha"], arr[f"{key}|given"] != arr[f"{key}|true"]
        bins = np.linspace(0, 1, 41)
        ax.hist(alpha[~flipped], bins=bins, alpha=0.6, density=True,
                label=f"clean (n={(~flipped).sum()}, mean {alpha[~flipped].mean():.2f})")
        ax.hist(alpha[flipped], bins=bins, alpha=0.6, density=True,
                label=f"flipped (n={flipped.sum()}, mean {alpha[flipped].mean():.2f})")
        ax.set_title(f"{title}, {noise:.0%} noise")
        ax.set_xlabel("importance weight α")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curve_figure(r: pd.DataFrame, noise: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for m in ("baseline", "scn"):
        g = r[(r.method == m) & (r.noise == noise)]
        c = np.array(g.test_curve.tolist()) * 100
        ep = np.arange(1, c.shape[1] + 1)
        ax.plot(ep, c.mean(0), label=f"{m} (mean of {len(g)} seeds)")
        ax.fill_between(ep, c.min(0), c.max(0), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"digits, {noise:.0%} label noise")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--figures", type=Path, help="folder for the PNG figures")
    a = p.parse_args(argv)
    r = pd.read_json(a.folder / "results.jsonl", lines=True, precise_float=True)
    for col in ("alpha_clean_mean", "alpha_flipped_mean", "relabel_precision", "flipped_corrected",
                "clean_corrupted", "flipped"):
        if col not in r:
            r[col] = np.nan
    cfg = json.loads((a.folder / "config.json").read_text())
    an = cfg["analysis"]
    out = ["## Table 2: test accuracy on digits with synthetic label noise", table2(r), "",
           f"## Ablation at {an['noise']:.0%} noise, seed {an['seed']}", ablation(r, an["noise"], an["seed"]), "",
           "## Relabelling (SCN, all seeds)", relabel_table(r), "",
           f"## Mean α at {an['noise']:.0%} noise", alpha_table(r, an["noise"]), "",
           f"Devices: {', '.join(sorted(r.device.unique()))}; mean {r.seconds.mean():.1f} s per run."]
    text = "\n".join(out)
    print(text)
    (a.folder / "tables.md").write_text(text + "\n")
    if a.figures:
        a.figures.mkdir(parents=True, exist_ok=True)
        arr = dict(np.load(a.folder / "alpha.npz"))
        alpha_figure(arr, an["noise"], an["seed"], a.figures / "scn_alpha_hist.png")
        curve_figure(r, an["noise"], a.figures / "scn_digits_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
