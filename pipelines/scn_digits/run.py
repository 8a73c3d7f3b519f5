"""The SCN paper's Table 2 protocol, and its checks, on scikit-learn's real handwritten digits.

Plain ResNet-18 vs SCN at each noise level and seed (``config.json`` "table2"), plus, at
the analysis noise level and seed, the Table-5-style ablation (importance weighting,
rank regularisation, relabelling on/off) whose runs also give the alpha histograms and
the relabelling precision. Runs go to a pool of processes sharing one device.

    python pipelines/scn_digits/run.py --out out/scn_digits [--workers 8] [--device auto]
    python pipelines/scn_digits/report.py out/scn_digits     # tables + figures

Writes ``results.jsonl`` (one line per run, as it finishes) and ``alpha.npz``
(per-training-sample alpha, given and true labels of every run with attention).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: method -> TrainConfig switches (everything else comes from config.json "train")
METHODS = {
    "baseline": dict(attention=False, rank=False, relabel=False),
    "scn": dict(attention=True, rank=True, relabel=True, relabel_scope="low"),
    "relabel": dict(attention=False, rank=False, relabel=True, relabel_scope="all"),
    "weight": dict(attention=True, rank=False, relabel=False),
    "weight+rank": dict(attention=True, rank=True, relabel=False),
    "weight+relabel": dict(attention=True, rank=False, relabel=True, relabel_scope="low"),
    "scn-relabel-all": dict(attention=True, rank=True, relabel=True, relabel_scope="all"),
    "scn-margin0.07": dict(attention=True, rank=True, relabel=True, relabel_scope="low", margin1=0.07),
}
_DATA = {}


def jobs(cfg: dict) -> list[dict]:
    """Every (method, noise, seed) to run, without repeats."""
    t2, a = cfg["table2"], cfg["analysis"]
    out = [{"method": m, "noise": n, "seed": s} for m in t2["methods"] for n in t2["noise"] for s in t2["seeds"]]
    out += [{"method": m, "noise": a["noise"], "seed": s} for s in a["seeds"] for m in METHODS]
    seen, unique = set(), []
    for j in out:
        key = (j["method"], j["noise"], j["seed"])
        if key not in seen:
            seen.add(key)
            unique.append(j)
    return unique


def run_one(job: dict, cfg: dict, device: str, threads: int) -> dict:
    """Train one configuration; return its metrics and per-sample alpha."""
    import torch

    from cdr.scn.data import DataSplits, Split, digits_splits
    from cdr.scn.train import SCNTrainer, TrainConfig

    torch.set_num_threads(threads)
    dc = cfg["data"]
    if "digits" not in _DATA:
        _DATA["digits"] = digits_splits(image_size=dc["image_size"], test_size=dc["test_size"], seed=dc["split_seed"])
    data: DataSplits = _DATA["digits"]
    if dc.get("limit_train"):
        n = dc["limit_train"]
        data = DataSplits(data.classes, Split(data.train.images[:n], data.train.labels[:n]), data.test)
    switches = METHODS[job["method"]]
    att = switches["attention"]
    tc = TrainConfig(**{**cfg["train"], **switches}, image_size=dc["image_size"], noise=job["noise"],
                     seed=job["seed"], device=device, workers=0, threads=threads)
    tr = SCNTrainer(tc, data).fit(log=None)
    alpha = tr.training_alpha()
    m = {k: v for k, v in tr.metrics_.items() if k != "history"}
    m["test_curve"] = [h["test_accuracy"] for h in tr.history_]
    m["loss_curve"] = [h["loss"] for h in tr.history_]
    m["train_acc_curve"] = [h["train_accuracy"] for h in tr.history_]
    given, true = tr.labels_.given, data.train.labels
    flipped = given != true
    if att:
        m["alpha_clean_mean"] = float(alpha[~flipped].mean())
        m["alpha_flipped_mean"] = float(alpha[flipped].mean()) if flipped.any() else float("nan")
    return {**job, **m, "_alpha": alpha.tolist() if att else None, "_given": given.tolist(),
            "_current": tr.labels_.current_labels().tolist(), "_true": true.tolist()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=HERE / "config.json")
    p.add_argument("--workers", type=int, default=1, help="parallel runs (processes) sharing the device")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, help="override (quick checks only)")
    p.add_argument("--image-size", type=int, help="override (quick checks only)")
    p.add_argument("--limit-train", type=int, help="use the first N training images (quick checks only)")
    p.add_argument("--only", nargs="*", help="methods to run (default: all)")
    p.add_argument("--resume", action="store_true", help="keep the runs already in OUT, run the rest")
    a = p.parse_args(argv)
    cfg = json.loads(a.config.read_text())
    if a.epochs:
        cfg["train"]["epochs"] = a.epochs
    if a.image_size:
        cfg["data"]["image_size"] = a.image_size
    if a.limit_train:
        cfg["data"]["limit_train"] = a.limit_train
    todo = [j for j in jobs(cfg) if not a.only or j["method"] in a.only]
    a.out.mkdir(parents=True, exist_ok=True)
    arrays, mode = {}, "w"
    if a.resume and (a.out / "results.jsonl").is_file():
        done = {(r["method"], r["noise"], r["seed"]) for r in map(json.loads, open(a.out / "results.jsonl"))}
        todo = [j for j in todo if (j["method"], j["noise"], j["seed"]) not in done]
        arrays, mode = dict(np.load(a.out / "alpha.npz")), "a"
    (a.out / "config.json").write_text(json.dumps(cfg, indent=2))
    print(f"{len(todo)} runs, {a.workers} at a time", flush=True)
    t0 = time.perf_counter()
    with open(a.out / "results.jsonl", mode) as fh, ProcessPoolExecutor(a.workers, mp_context=get_context("spawn")) as ex:
        futures = [ex.submit(run_one, j, cfg, a.device, a.threads) for j in todo]
        for f in as_completed(futures):
            r = f.result()
            key = f"{r['method']}|{r['noise']}|{r['seed']}"
            for name in ("_alpha", "_given", "_current", "_true"):
                v = r.pop(name)
                if v is not None:
                    arrays[f"{key}|{name[1:]}"] = np.asarray(v)
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            np.savez_compressed(a.out / "alpha.npz", **arrays)
            print(f"[{time.perf_counter() - t0:6.1f}s] {key:28s} test_acc {r['test_accuracy']:.4f} "
                  f"relabelled {r['relabelled']}  {r['seconds']:.1f}s  {r['device']}", flush=True)
    print(f"done in {time.perf_counter() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main())
