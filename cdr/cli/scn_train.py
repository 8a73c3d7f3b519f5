"""``cdr-scn-train DATA -o CHECKPOINT_DIR``: train a Self-Cure Network on expression images.

Writes ``model.pt`` (a state_dict; ``torch.load(..., weights_only=True)``),
``config.json`` and ``metrics.json`` (``test_accuracy``, ``relabelled``, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cdr.cli import describe
from cdr.errors import CdrError
from cdr.scn.config import DEVICES, FORMATS, TrainConfig

# torch and the training code load in main(), once the arguments are known, so that
# --help and usage errors answer at once.


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="cdr-scn-train", description=describe(__doc__),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", type=Path, help="data folder in the layout named by --format")
    p.add_argument("-o", "--output", metavar="CHECKPOINT_DIR", type=Path, required=True, help="checkpoint folder to write")
    p.add_argument("--format", choices=FORMATS, default="imagefolder", help="on-disk layout of DATA")
    p.add_argument("--noise", type=float, default=0.0, help="share of training labels flipped at random (seeded)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--image-size", type=int, default=d.image_size, help="network input side, pixels")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-attention", action="store_true", help="no importance weighting (implies --no-rank)")
    p.add_argument("--no-rank", action="store_true", help="no rank regularisation")
    p.add_argument("--no-relabel", action="store_true", help="no relabelling")
    g = p.add_argument_group("method details")
    g.add_argument("--relabel-scope", choices=("low", "all"), default=d.relabel_scope,
                   help="relabel the low-importance group (paper) or the whole batch (reference code)")
    g.add_argument("--relabel-epoch", type=int, default=d.relabel_epoch, help="first epoch (1-based) that relabels")
    g.add_argument("--margin1", type=float, default=d.margin1, help="delta_1 of the rank regulariser (0.07 at batch 64)")
    g.add_argument("--margin2", type=float, default=d.margin2, help="delta_2 of the relabelling rule")
    g.add_argument("--beta", type=float, default=d.beta, help="share of a batch in the high-importance group")
    g.add_argument("--gamma", type=float, default=d.gamma, help="weight of L_RR in the total loss")
    g.add_argument("--optimizer", choices=("adam", "sgd"), default=d.optimizer)
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--lr-decay", type=float, default=d.lr_decay, help="learning-rate factor per epoch")
    g.add_argument("--no-flip", action="store_true", help="no horizontal-flip augmentation")
    g.add_argument("--shift", type=float, default=d.shift, help="largest random translation, share of the side")
    g.add_argument("--workers", type=int, default=None, help="loader processes (default: by device and data)")
    g.add_argument("--threads", type=int, default=None, help="CPU threads (default: the cores available)")
    return p


def one_line(exc: BaseException) -> str:
    """The message of ``exc``; for an error re-raised from a DataLoader worker, its last line.

    PyTorch re-raises a worker's exception as the same type with the worker's
    whole traceback as its message; the last line holds the original message.
    """
    text = str(exc).strip()
    if "Original Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    return last.split(": ", 1)[1] if last.startswith(f"{type(exc).__module__}.") else last


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Map parsed options onto a TrainConfig (``--no-attention`` switches rank off too)."""
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, image_size=args.image_size,
        optimizer=args.optimizer, lr=args.lr, lr_decay=args.lr_decay,
        attention=not args.no_attention, rank=not (args.no_rank or args.no_attention),
        relabel=not args.no_relabel, relabel_scope=args.relabel_scope, relabel_epoch=args.relabel_epoch,
        beta=args.beta, margin1=args.margin1, margin2=args.margin2, gamma=args.gamma,
        flip=not args.no_flip, shift=args.shift, noise=args.noise, seed=args.seed, device=args.device,
        workers=args.workers, threads=args.threads,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        config.check()
        if not args.data.is_dir():
            raise CdrError(f"{args.data}: not a folder; pass the dataset folder in the layout named by --format")
        from cdr.outdir import make_output_folder
        from cdr.scn.data import load_dataset
        from cdr.scn.train import SCNTrainer

        data = load_dataset(args.data, args.format)
        make_output_folder(args.output)
        print(f"{args.format}: {len(data.train)} train, {len(data.test)} test"
              + (f", {len(data.val)} val" if data.val is not None else "") + f"; classes {data.classes}")
        trainer = SCNTrainer(config, data).fit(log=lambda line: print(line, flush=True))
        trainer.save(args.output)
    except CdrError as exc:
        print(f"cdr-scn-train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    m = trainer.metrics_
    print(f"test_accuracy {m['test_accuracy']:.4f}  relabelled {m['relabelled']}  -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
