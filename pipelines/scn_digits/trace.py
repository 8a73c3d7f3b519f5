"""Per-epoch trace of the training set: alpha, and whether noisy samples are memorised.

For a few methods at the analysis noise level, records after every epoch (eval mode,
no augmentation) each training sample's alpha and predicted class, so that the alpha of
clean vs flipped samples and the memorisation of flipped labels can be followed over
training rather than only at its end.

    python pipelines/scn_digits/trace.py --out out/scn_digits/trace.npz [--device auto]
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def trace_one(method: str, cfg: dict, noise: float, seed: int, device: str, epochs: int | None) -> dict:
    from cdr.scn.data import digits_splits
    from cdr.scn.train import SCNTrainer, TrainConfig

    sys.path.insert(0, str(HERE))
    from run import METHODS

    class TracingTrainer(SCNTrainer):
        """SCNTrainer whose end-of-epoch step also snapshots the training set."""

        def on_epoch_end(self, epoch, stats, log):
            super().on_epoch_end(epoch, stats, log)
            _, pred, alpha = self.predict(self.data.train)
            self.trace_alpha.append(alpha)
            self.trace_pred.append(pred)
            self.trace_labels.append(self.labels_.current_labels())

    dc = cfg["data"]
    data = digits_splits(image_size=dc["image_size"], test_size=dc["test_size"], seed=dc["split_seed"])
    train = {**cfg["train"], **({"epochs": epochs} if epochs else {})}
    tc = TrainConfig(**{**train, **METHODS[method]}, image_size=dc["image_size"], noise=noise, seed=seed,
                     device=device, workers=0, threads=1)
    tr = TracingTrainer(tc, data)
    tr.trace_alpha, tr.trace_pred, tr.trace_labels = [], [], []
    tr.fit(log=None)
    return {"method": method, "alpha": np.stack(tr.trace_alpha), "pred": np.stack(tr.trace_pred),
            "current": np.stack(tr.trace_labels), "given": tr.labels_.given, "true": data.train.labels,
            "test": np.array([h["test_accuracy"] for h in tr.history_])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=HERE / "config.json")
    p.add_argument("--methods", nargs="+", default=["baseline", "weight+rank", "scn", "scn-relabel-all"])
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, help="override (quick checks only)")
    a = p.parse_args(argv)
    cfg = json.loads(a.config.read_text())
    noise, seed = cfg["analysis"]["noise"], cfg["analysis"]["seeds"][0]
    arrays = {}
    with ProcessPoolExecutor(len(a.methods), mp_context=get_context("spawn")) as ex:
        futs = [ex.submit(trace_one, m, cfg, noise, seed, a.device, a.epochs) for m in a.methods]
        for f in futs:
            r = f.result()
            for k, v in r.items():
                if k != "method":
                    arrays[f"{r['method']}|{k}"] = v
            print(f"{r['method']}: final test accuracy {r['test'][-1]:.4f}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **arrays)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main())
