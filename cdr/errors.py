"""The project's small error tree.

Every message names the file or value at fault and says what to do about it,
so that a batch job can record it as one line in ``failures.csv``.
"""

from __future__ import annotations


class CdrError(Exception):
    """Base class of all errors raised on purpose by cdr."""


class InputError(CdrError):
    """A recording cannot be read (missing, empty, corrupt, not a media file)."""


class NoAudioError(InputError):
    """The recording has no audio track."""


class LabelError(CdrError):
    """The labels CSV is unusable; the message lists every problem at once."""


class ModelFileError(CdrError):
    """A saved model is truncated, edited, foreign or from another version."""


class QualityError(CdrError):
    """A recording is readable but too poor to be scored."""


class ParameterError(CdrError, ValueError):
    """A parameter has a value that cannot work; the message carries the value."""


class DiskFullError(CdrError):
    """A file could not be written because its disk is full; the message names it and the space needed."""
