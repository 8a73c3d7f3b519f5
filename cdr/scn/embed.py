"""Inference with a trained Self-Cure Network: per-video ``expr.`` features.

:class:`ExpressionEmbedder` loads a checkpoint folder written by ``cdr-scn-train``
(``model.pt`` + ``config.json``), embeds aligned face crops in batches on the chosen
device, and summarises one video as a Series indexed by :attr:`ExpressionEmbedder.names`.
Without a checkpoint there is no embedder, and the ``expr.`` group is left out.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cdr.errors import ParameterError
from cdr.scn.checkpoint import load_checkpoint
from cdr.scn.data import resize_square
from cdr.scn.runtime import autocast, resolve_device
from cdr.scn.transforms import normalise

GROUP = "expr"


def _column_safe(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        s = re.sub(r"[^0-9a-z]+", "_", n.lower()).strip("_") or "class"
        while s in out:
            s += "_"
        out.append(s)
    return out


def expression_names(classes: list[str], *, attention: bool = True) -> list[str]:
    """Column names for a checkpoint's class list (3 K + 1, plus 2 with attention).

    ``expr.prob_mean_<c>``, ``expr.prob_std_<c>``, ``expr.share_<c>`` for each class,
    ``expr.change_rate`` and, with an attention branch, ``expr.alpha_mean``, ``expr.alpha_std``.
    """
    cs = _column_safe(classes)
    names = [f"{GROUP}.prob_mean_{c}" for c in cs] + [f"{GROUP}.prob_std_{c}" for c in cs]
    names += [f"{GROUP}.share_{c}" for c in cs] + [f"{GROUP}.change_rate"]
    if attention:
        names += [f"{GROUP}.alpha_mean", f"{GROUP}.alpha_std"]
    return names


class ExpressionEmbedder:
    """A trained SCN turned into a per-video feature extractor.

    Parameters
    ----------
    checkpoint : str or Path
        Folder holding ``model.pt`` and ``config.json``. A missing, foreign or
        corrupted file raises :class:`~cdr.errors.ModelFileError`.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    batch_size : int
        Crops per forward pass.

    Attributes
    ----------
    names : list of str
        The ``expr.*`` columns :meth:`summarise` returns, fixed by the checkpoint.
    classes : list of str
        The checkpoint's expression classes.
    image_size : int
        Side the crops are resized to before the network.
    """

    def __init__(self, checkpoint: str | Path, device: str = "auto", *, batch_size: int = 128) -> None:
        if batch_size < 1:
            raise ParameterError(f"batch_size={batch_size} must be >= 1")
        self.device = resolve_device(device)
        self.model, self.config = load_checkpoint(Path(checkpoint), self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.classes: list[str] = list(self.config["classes"])
        self.image_size: int = int(self.config["image_size"])
        self.attention: bool = bool(self.config["attention"])
        self.batch_size = int(batch_size)
        self.names: list[str] = expression_names(self.classes, attention=self.attention)

    @torch.no_grad()
    def embed(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and importance weights of face crops.

        Parameters
        ----------
        crops : np.ndarray [shape=(N, S, S, 3), dtype=uint8]
            Aligned RGB face crops (``cdr.face.align.align_face``), any side S.

        Returns
        -------
        probs : np.ndarray [shape=(N, K), dtype=float32]
        alpha : np.ndarray [shape=(N,), dtype=float32]
            The network's importance weight in (0, 1); 1 without an attention branch.
        """
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
            raise ParameterError(f"crops have shape {crops.shape} and dtype {crops.dtype}; "
                                 "expected uint8 [N, S, S, 3] RGB face crops")
        k = len(self.classes)
        if len(crops) == 0:
            return np.zeros((0, k), np.float32), np.zeros(0, np.float32)
        mean, std = tuple(self.config["mean"]), tuple(self.config["std"])
        probs, alphas = [], []
        for start in range(0, len(crops), self.batch_size):
            chunk = np.stack([resize_square(c, self.image_size) for c in crops[start:start + self.batch_size]])
            x = torch.from_numpy(chunk).permute(0, 3, 1, 2)
            if self.device.type == "cuda":
                x = x.pin_memory()
            x = normalise(x.to(self.device, non_blocking=True), mean, std,
                          channels_last=self.device.type == "cuda")
            with autocast(self.device):
                logits, alpha = self.model(x)
            probs.append(torch.softmax(logits.float(), 1).cpu())
            alphas.append(alpha.float().cpu())
        return torch.cat(probs).numpy(), torch.cat(alphas).numpy()

    def summarise(self, crops: np.ndarray, t: np.ndarray) -> pd.Series:
        """One video's ``expr.`` features.

        Parameters
        ----------
        crops : np.ndarray [shape=(N, S, S, 3), dtype=uint8]
            Aligned face crops sampled from the video (about 2 per second).
        t : np.ndarray [shape=(N,)]
            Their times in seconds.

        Returns
        -------
        pd.Series
            Indexed by :attr:`names`: mean and std (over crops) of each class
            probability; share of crops predicted as each class; expression-change rate
            (changes of the predicted class between consecutive crops, per second);
            mean and std of alpha. NaN, with a warning, where not measurable (no crops;
            a std or a rate from fewer than two crops or a zero time span).
        """
        t = np.asarray(t, dtype=float).reshape(-1)
        if len(t) != len(crops):
            raise ParameterError(f"t has {len(t)} times for {len(crops)} crops; pass one time per crop")
        if not np.isfinite(t).all():
            raise ParameterError("t holds NaN or infinite times; pass the crops' timestamps in seconds")
        out = pd.Series(np.nan, index=self.names, dtype=float)
        if len(t) == 0:
            warnings.warn("expr: no face crops in this recording; the expr. features are NaN", stacklevel=2)
            return out
        probs, alpha = self.embed(crops)
        order = np.argsort(t, kind="stable")
        probs, alpha, t = probs[order], alpha[order], t[order]
        k = len(self.classes)
        n = len(t)
        pred = probs.argmax(1)
        cs = _column_safe(self.classes)
        out[[f"{GROUP}.prob_mean_{c}" for c in cs]] = probs.mean(0)
        out[[f"{GROUP}.share_{c}" for c in cs]] = np.bincount(pred, minlength=k) / n
        if n >= 2:
            out[[f"{GROUP}.prob_std_{c}" for c in cs]] = probs.std(0, ddof=1)
        else:
            warnings.warn("expr: one face crop in this recording; the spreads are NaN", stacklevel=2)
        span = t[-1] - t[0]
        if n >= 2 and span > 0:
            out[f"{GROUP}.change_rate"] = np.count_nonzero(pred[1:] != pred[:-1]) / span
        elif n >= 2:
            warnings.warn(f"expr: {n} crops span 0 s; the change rate is NaN", stacklevel=2)
        if self.attention:
            out[f"{GROUP}.alpha_mean"] = float(alpha.mean())
            if n >= 2:
                out[f"{GROUP}.alpha_std"] = float(alpha.std(ddof=1))
        return out
