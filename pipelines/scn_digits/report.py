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


LABELS = {"baseline": "ResNet-18", "scn": "SCN", "scn-relabel-all": "SCN, batch relabel",
          "relabel": "ResNet-18 + batch relabel"}


def table2(r: pd.DataFrame, methods: list[str]) -> str:
    head = " | ".join(f"{LABELS.get(m, m)} (%)" for m in methods)
    gains = " | ".join(f"{LABELS.get(m, m)} − ResNet-18" for m in methods[1:])
    lines = [f"| noise | {head} | {gains} |", "|---|" + "---|" * (2 * len(methods) - 1)]
    for n, g in r[r.method.isin(methods)].groupby("noise"):
        acc = {m: g[g.method == m].set_index("seed").test_accuracy for m in methods}
        base = acc["baseline"]
        cells = [pm(acc[m]) for m in methods]
        cells += [pm(acc[m] - base[base.index.intersection(acc[m].index)].reindex(acc[m].index)) for m in methods[1:]]
        lines.append(f"| {n:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation(r: pd.DataFrame, noise: float, seeds: list[int]) -> str:
    a = r[(r.noise == noise) & r.seed.isin(seeds)]
    lines = ["| weight | rank | relabel | test accuracy (%) | relabelled | precision | flipped corrected | method |",
             "|---|---|---|---|---|---|---|---|"]
    for m, (w, rk, rl, scope) in SWITCHES.items():
        x = a[a.method == m]
        if x.empty:
            continue
        rel = f"{MARK[rl]} {scope}".strip()
        prec = "" if not rl else pm(x.relabel_precision, 1, 3)
        corr = "" if not rl else pm(x.flipped_corrected, 1, 3)
        lines.append(f"| {MARK[w]} | {MARK[rk]} | {rel} | {pm(x.test_accuracy)} | {pm(x.relabelled, 1, 0)} "
                     f"| {prec} | {corr} | {m} |")
    return "\n".join(lines)


def relabel_table(r: pd.DataFrame, methods: list[str]) -> str:
    s = r[r.method.isin([m for m in methods if SWITCHES[m][2]]) & (r.noise > 0)]
    lines = ["| method | noise | flipped | relabelled | precision | flipped corrected | clean relabelled away |",
             "|---|---|---|---|---|---|---|"]
    for (m, n), g in sorted(s.groupby(["method", "noise"]), key=lambda kv: (methods.index(kv[0][0]), kv[0][1])):
        lines.append(f"| {m} | {n:.0%} | {g.flipped.mean():.0f} | {pm(g.relabelled, 1, 0)} | {pm(g.relabel_precision, 1, 3)} "
                     f"| {pm(g.flipped_corrected, 1, 3)} | {pm(g.clean_corrupted, 1, 0)} |")
    return "\n".join(lines)


def alpha_table(r: pd.DataFrame, arr: dict, noise: float) -> str:
    """Mean alpha of clean and flipped samples at the end of training, and how well low alpha flags a flip."""
    from sklearn.metrics import roc_auc_score

    s = r[(r.noise == noise) & r.alpha_clean_mean.notna()]
    lines = ["| method | seeds | mean α, clean labels | mean α, flipped labels | AUC of −α for 'flipped' |",
             "|---|---|---|---|---|"]
    for m in SWITCHES:
        g = s[s.method == m]
        if g.empty:
            continue
        aucs = []
        for seed in g.seed:
            key = f"{m}|{noise}|{seed}"
            flipped = arr[f"{key}|given"] != arr[f"{key}|true"]
            aucs.append(roc_auc_score(flipped, -arr[f"{key}|alpha"]))
        lines.append(f"| {m} | {len(g)} | {pm(g.alpha_clean_mean, 1, 3)} | {pm(g.alpha_flipped_mean, 1, 3)} "
                     f"| {pm(pd.Series(aucs), 1, 3)} |")
    return "\n".join(lines)


def trace_figure(tr: dict, path: Path) -> None:
    """Per epoch: mean alpha (clean vs flipped), memorisation of flipped labels, test accuracy."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({k.split("|")[0] for k in tr}, key=list(SWITCHES).index)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for m in methods:
        alpha, pred, given, true = tr[f"{m}|alpha"], tr[f"{m}|pred"], tr[f"{m}|given"], tr[f"{m}|true"]
        fl = given != true
        ep = np.arange(1, len(alpha) + 1)
        if SWITCHES[m][0]:
            line, = axes[0].plot(ep, alpha[:, ~fl].mean(1), label=f"{m}, clean")
            axes[0].plot(ep, alpha[:, fl].mean(1), "--", color=line.get_color(), label=f"{m}, flipped")
        axes[1].plot(ep, 100 * (pred[:, fl] == given[fl]).mean(1), label=m)
        axes[2].plot(ep, 100 * tr[f"{m}|test"], label=m)
    axes[0].set_title("mean α of training samples")
    axes[1].set_title("flipped samples predicted as their noisy label (%)")
    axes[2].set_title("test accuracy (%)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    for m in ("baseline", "scn", "scn-relabel-all"):
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
    p.add_argument("folder", type=Path, help="run.py's --out (results.jsonl, alpha.npz; trace.npz if traced)")
    p.add_argument("--figures", type=Path, help="folder for the PNG figures")
    a = p.parse_args(argv)
    r = pd.read_json(a.folder / "results.jsonl", lines=True, precise_float=True)
    for col in ("alpha_clean_mean", "alpha_flipped_mean", "relabel_precision", "flipped_corrected",
                "clean_corrupted", "flipped"):
        if col not in r:
            r[col] = np.nan
    cfg = json.loads((a.folder / "config.json").read_text())
    arr = dict(np.load(a.folder / "alpha.npz"))
    an, methods = cfg["analysis"], cfg["table2"]["methods"]
    out = ["## Table 2: test accuracy on digits with synthetic label noise", table2(r, methods), "",
           f"## Ablation at {an['noise']:.0%} noise, seeds {an['seeds']}", ablation(r, an["noise"], an["seeds"]), "",
           "## Relabelling (all seeds)", relabel_table(r, methods), "",
           f"## Mean α at {an['noise']:.0%} noise, end of training", alpha_table(r, arr, an["noise"]), "",
           f"Devices: {', '.join(sorted(r.device.unique()))}; mean {r.seconds.mean():.1f} s per run."]
    text = "\n".join(out)
    print(text)
    (a.folder / "tables.md").write_text(text + "\n")
    if a.figures:
        a.figures.mkdir(parents=True, exist_ok=True)
        alpha_figure(arr, an["noise"], an["seeds"][0], a.figures / "scn_alpha_hist.png")
        curve_figure(r, an["noise"], a.figures / "scn_digits_curves.png")
        if (a.folder / "trace.npz").is_file():
            trace_figure(dict(np.load(a.folder / "trace.npz")), a.figures / "scn_digits_trace.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
