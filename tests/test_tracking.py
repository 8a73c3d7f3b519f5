"""The face tracked in a process of its own (cdr.tracking), as cdr-predict does it."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import psutil
import pytest

from cdr.extract import extract_rows
from cdr.face.track import track_video
from cdr.synth.video import render_face_video
from cdr.tracking import start_tracking


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracking") / "clip.mp4"
    t = np.arange(50) / 25
    render_face_video(path, pd.DataFrame({"yaw": 15 * np.sin(2 * np.pi * 0.5 * t)}), fps=25,
                      frame_size=(320, 240), threads=1)
    return path


def _workers() -> set[int]:
    """Loky worker processes of this process (other tests' reusable pools included)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "LokyProcess" in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


def _gone(pids: set[int], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while pids & _workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not pids & _workers()


def test_the_track_made_apart_equals_the_track_made_here(clip):
    before = _workers()
    tracking = start_tracking(clip)
    mine = _workers() - before
    ft, notes = tracking.result()
    pd.testing.assert_frame_equal(ft.frames, track_video(clip, crop_rate=0).frames)
    assert notes == [] and len(mine) == 1 and _gone(mine)  # the result ends its process


def test_closing_a_tracking_ends_its_process_at_once(clip):
    before = _workers()
    tracking = start_tracking(clip)
    mine = _workers() - before
    tracking.close()
    assert len(mine) == 1 and _gone(mine)


def test_a_tracking_started_with_other_options_is_not_used(clip):
    before = _workers()
    tracking = start_tracking(clip, stride=2)
    mine = _workers() - before
    ex = extract_rows(clip, "clip", tracking=tracking)
    assert len(ex.track) == 50  # tracked here at stride 1, as asked
    assert len(mine) == 1 and _gone(mine)


def test_a_file_without_video_gives_no_track(tmp_path, arctic_audio):
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    sf.write(wav, arctic_audio[0], arctic_audio[1])
    assert start_tracking(wav).result() == (None, [])


def test_a_tracking_process_that_dies_is_one_line_naming_the_file(clip):
    from cdr.errors import InputError

    before = _workers()
    tracking = start_tracking(clip)
    for pid in _workers() - before:  # still starting (importing mediapipe): killed as the OOM killer would
        psutil.Process(pid).kill()
    with pytest.raises(InputError, match="the face tracking process stopped") as err:
        tracking.result()
    assert str(clip) in str(err.value) and "\n" not in str(err.value)
