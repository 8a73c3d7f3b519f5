"""Relabelling: the rule, and the label table that the trainer owns.

The dataset is never written to. The trainer keeps every training label in a
:class:`LabelTable` (the labels as given, possibly noised, and the current ones after
relabelling) and reports it at the end.
"""

from __future__ import annotations

import numpy as np
import torch

from cdr.errors import ParameterError


def relabel_candidates(
    probs: torch.Tensor,
    targets: torch.Tensor,
    *,
    margin: float = 0.2,
    eligible: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which samples take their top prediction as the new label (paper eq. 5).

    A sample is relabelled when ``P_max - P_given > margin`` (delta_2) and it is
    ``eligible`` (by default: in the low-importance group; see the trainer).

    Parameters
    ----------
    probs : torch.Tensor [shape=(B, K)]
        Softmax of the weighted logits.
    targets : torch.Tensor [shape=(B,), dtype=long]
        Current labels of the batch.
    margin : float
        delta_2 (paper 0.2).
    eligible : torch.Tensor [shape=(B,), dtype=bool], optional
        Samples allowed to change; all when None.

    Returns
    -------
    mask : torch.Tensor [shape=(B,), dtype=bool]
        True where the label changes.
    top : torch.Tensor [shape=(B,), dtype=long]
        Arg-max class of every sample (the new label where ``mask``).
    """
    if margin < 0:
        raise ParameterError(f"margin={margin} (delta_2) must be >= 0")
    pmax, top = probs.max(dim=1)
    pgiven = probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    mask = (pmax - pgiven) > margin
    if eligible is not None:
        mask = mask & eligible
    return mask, top


class LabelTable:
    """Training labels: as given and as currently used, kept on the training device.

    Parameters
    ----------
    given : np.ndarray [shape=(N,), dtype=int]
        Labels as loaded (after synthetic noise, if any). Never modified.
    device : torch.device or str
        Where the current labels live (the trainer gathers batches there).
    true : np.ndarray [shape=(N,)], optional
        The clean labels when noise was added on purpose; enables the precision report.
    """

    def __init__(self, given: np.ndarray, *, device: torch.device | str = "cpu", true: np.ndarray | None = None) -> None:
        self.given = np.asarray(given, dtype=np.int64).copy()
        self.given.setflags(write=False)
        self.true = None if true is None else np.asarray(true, dtype=np.int64).copy()
        if self.true is not None and self.true.shape != self.given.shape:
            raise ParameterError(f"true labels {self.true.shape} do not match given labels {self.given.shape}")
        self.current = torch.tensor(self.given, dtype=torch.long, device=device)
        self.events = torch.zeros(len(self.given), dtype=torch.int32, device=device)

    def __len__(self) -> int:
        return len(self.given)

    def targets(self, index: torch.Tensor) -> torch.Tensor:
        """Current labels [B] of the samples ``index`` [B] (dataset indices)."""
        return self.current[index]

    def update(self, index: torch.Tensor, mask: torch.Tensor, new: torch.Tensor) -> None:
        """Set ``current[index[mask]] = new[mask]`` (no host sync)."""
        sel = index[mask]
        self.current[sel] = new[mask]
        self.events[sel] += 1

    def current_labels(self) -> np.ndarray:
        """Current labels [N] as a NumPy array."""
        return self.current.cpu().numpy()

    def report(self) -> dict[str, float | int]:
        """Counts for ``metrics.json``.

        ``relabelled`` is the number of samples whose current label differs from
        the given one; ``relabel_events`` counts every change, repeats included.
        With true labels: ``flipped`` (noisy samples), ``relabel_precision`` (share
        of relabelled samples now carrying their true label), ``flipped_corrected``
        (share of noisy samples now carrying their true label) and
        ``clean_corrupted`` (clean samples relabelled away from their true label).
        NaN where a share has no denominator.
        """
        cur = self.current_labels()
        changed = cur != self.given
        out: dict[str, float | int] = {
            "relabelled": int(changed.sum()),
            "relabel_events": int(self.events.sum().item()),
        }
        if self.true is not None:
            flipped = self.given != self.true
            ok = cur == self.true
            out["flipped"] = int(flipped.sum())
            out["relabel_precision"] = float(ok[changed].mean()) if changed.any() else float("nan")
            out["flipped_corrected"] = float(ok[flipped].mean()) if flipped.any() else float("nan")
            out["clean_corrupted"] = int((~flipped & changed).sum())
        return out
