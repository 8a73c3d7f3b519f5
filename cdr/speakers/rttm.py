"""Speaker turns in RTTM, the format diarization tools and annotation exports write.

One ``SPEAKER`` record per segment::

    SPEAKER <file-id> 1 <start_s> <duration_s> <NA> <NA> <speaker> <NA> <NA>

Blank lines and lines starting with ``;;`` are comments; other record types
(``SPKR-INFO``, ``LEXEME``, ...) are skipped. A turns file given by the user
names its speakers ``patient`` and ``interviewer``; any other name is an error
(it names the file and the line), as is a malformed line, a negative time or a
segment that ends after the recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .diarize import TURN_COLUMNS, empty_turns

USER_SPEAKERS = ("patient", "interviewer")
#: A user's segment may end this much (seconds) after the audio before it is an error.
END_TOLERANCE_S = 0.5


class TurnsFileError(InputError):
    """A user's turns file cannot be used; the message names the file and the line."""


def read_rttm(path: str | Path, *, duration_s: float | None = None,
              speakers: tuple[str, ...] | None = USER_SPEAKERS) -> pd.DataFrame:
    """Read the ``SPEAKER`` records of an RTTM file.

    Parameters
    ----------
    path : path-like
        The ``.rttm`` file.
    duration_s : float, optional
        Length of the recording, in seconds; a segment ending later (beyond
        :data:`END_TOLERANCE_S`) is an error.
    speakers : tuple of str, optional
        Allowed speaker names (``None``: any).

    Returns
    -------
    turns : pd.DataFrame
        Columns ``start_s``, ``end_s``, ``speaker``, sorted by start.

    Raises
    ------
    TurnsFileError
        One line: ``<path>:<line>: what is wrong; what to do``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TurnsFileError(f"{path}: cannot be read as text ({exc}); write it as UTF-8 RTTM") from exc
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith(";;"):
            continue
        where = f"{path}:{n}"
        if fields[0] != "SPEAKER":
            if fields[0].isupper() and len(fields) >= 9:
                continue  # another RTTM record type
            raise TurnsFileError(f"{where}: not an RTTM record ({line.strip()[:60]!r}); "
                                 "write 'SPEAKER <id> 1 <start> <dur> <NA> <NA> <speaker> <NA> <NA>'")
        if len(fields) < 9:
            raise TurnsFileError(f"{where}: SPEAKER record has {len(fields)} fields, expected 9 or 10; "
                                 "write 'SPEAKER <id> 1 <start> <dur> <NA> <NA> <speaker> <NA> <NA>'")
        try:
            start, dur = float(fields[3]), float(fields[4])
        except ValueError:
            raise TurnsFileError(f"{where}: start {fields[3]!r} or duration {fields[4]!r} is not a number "
                                 "of seconds") from None
        if not (np.isfinite(start) and np.isfinite(dur)) or start < 0 or dur <= 0:
            raise TurnsFileError(f"{where}: start {start} s and duration {dur} s must be finite, start >= 0 "
                                 "and duration > 0")
        name = fields[7]
        if speakers is not None and name not in speakers:
            raise TurnsFileError(f"{where}: speaker {name!r} is unknown; name speakers "
                                 f"{' or '.join(repr(s) for s in speakers)}")
        if duration_s is not None and start + dur > duration_s + END_TOLERANCE_S:
            raise TurnsFileError(f"{where}: segment ends at {start + dur:.2f} s, after the recording's "
                                 f"{duration_s:.2f} s; check that the file belongs to this recording")
        rows.append((start, start + dur, name))
    if not rows:
        return empty_turns()
    return pd.DataFrame(rows, columns=TURN_COLUMNS).sort_values(["start_s", "speaker"]).reset_index(drop=True)


def write_rttm(turns: pd.DataFrame, path: str | Path, file_id: str) -> None:
    """Write turns as RTTM ``SPEAKER`` records (times in seconds, 3 decimals)."""
    Path(path).write_text(format_rttm(turns, file_id), encoding="utf-8")


def format_rttm(turns: pd.DataFrame, file_id: str) -> str:
    """The RTTM text of ``turns`` (``file_id`` with spaces replaced by ``_``)."""
    fid = str(file_id).replace(" ", "_") or "recording"
    return "".join(
        f"SPEAKER {fid} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n"
        for s, e, spk in zip(turns["start_s"], turns["end_s"], turns["speaker"])
    )
