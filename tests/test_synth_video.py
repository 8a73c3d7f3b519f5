"""Synthetic video writing: decodes back with cdr.io at the stated size, rate, length, audio and truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdr import io
from cdr.errors import ParameterError
from cdr.synth.video import read_truth, render_face_video, truth_path, write_video


def _frames(n, w=64, h=48):
    # frame i has brightness 4*i in its top-left quadrant, so order and orientation can be checked
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[: h // 2, : w // 2] = 4 * i
        yield f


@pytest.mark.parametrize("fps", [25.0, 30.0, 30000 / 1001])
def test_written_video_has_the_stated_rate_length_and_order(tmp_path, fps):
    path = write_video(tmp_path / "v.mp4", _frames(20), fps)
    info = io.probe(path)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(fps, rel=1e-3)
    decoded = list(io.iter_frames(path))
    assert len(decoded) == 20
    np.testing.assert_allclose([t for t, _ in decoded], np.arange(20) / fps, atol=1e-3)
    levels = [f[:24, :32].mean() for _, f in decoded]
    np.testing.assert_allclose(levels, 4 * np.arange(20), atol=3)
    assert not info.has_audio


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_displays_frames_as_given(tmp_path, rotation):
    path = write_video(tmp_path / "r.mp4", _frames(3), 25, rotation=rotation)
    info = io.probe(path)
    assert info.rotation == rotation and (info.width, info.height) == (64, 48)
    _, first = next(io.iter_frames(path))
    _, last = list(io.iter_frames(path))[-1]
    assert first.shape == (48, 64, 3)
    assert last[:24, :32].mean() > 5 and last[24:, 32:].mean() < 3  # bright block still top-left


@pytest.mark.parametrize("keyint", [0, 1, 5])
def test_keyint_bounds_the_distance_between_keyframes(tmp_path, keyint):
    import av

    path = write_video(tmp_path / "k.mp4", _frames(20), 25, keyint=keyint, reproducible=True)
    with av.open(str(path)) as c:
        keys = [i for i, p in enumerate(p for p in c.demux(video=0) if p.size) if p.is_keyframe]
    assert keys[0] == 0
    if keyint:  # a keyframe at least every keyint frames; 1: every frame on its own
        assert np.diff(keys + [20]).max() <= keyint
    else:  # the encoder's default (250 frames): one keyframe in 20 frames of slow change
        assert keys == [0]


def test_audio_track_round_trips(tmp_path):
    sr = 16_000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = write_video(tmp_path / "a.mp4", _frames(25), 25, audio=tone, sr=sr)
    y = io.read_audio(path)
    assert abs(len(y) - sr) < 2048  # AAC adds at most a frame or two of padding
    spec = np.abs(np.fft.rfft(y[2000:14000]))
    peak = np.fft.rfftfreq(12000, 1 / sr)[np.argmax(spec)]
    assert peak == pytest.approx(440, abs=3)
    assert np.sqrt(np.mean(y[2000:14000] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.15)


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(ParameterError, match="rotation"):
        write_video(tmp_path / "x.mp4", _frames(2), 25, rotation=45)
    with pytest.raises(ParameterError, match="even"):
        write_video(tmp_path / "x.mp4", _frames(2, 63, 48), 25)
    with pytest.raises(ParameterError, match="no frames"):
        write_video(tmp_path / "x.mp4", iter(()), 25)
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_face_video_saves_per_frame_truth(tmp_path):
    n = 12
    sched = pd.DataFrame({"yaw": np.linspace(-15, 15, n), "gaze_x": np.linspace(0, 0.2, n),
                          "blink": [0.0] * 6 + [1.0] * 6})
    path = tmp_path / "face.mp4"
    truth = render_face_video(path, sched, fps=30, frame_size=(320, 240), face_width=0.4, background=5)
    assert truth_path(path).exists()
    saved = read_truth(path)
    pd.testing.assert_frame_equal(saved, truth)
    np.testing.assert_allclose(saved["t"], np.arange(n) / 30)
    np.testing.assert_allclose(saved["yaw"], sched["yaw"])
    assert np.all(np.diff(saved["nose_x"]) > 0)  # yaw increasing: nose moves right
    assert saved["ear_left"].iloc[:6].min() > 0.2 and saved["ear_left"].iloc[6:].max() < 0.06
    frames = list(io.iter_frames(path))
    assert len(frames) == n and frames[0][1].shape == (240, 320, 3)
    # the face is where the truth says: skin-toned (red > blue) around the nose tip
    t, img = frames[0]
    x, y = int(saved["nose_x"][0]), int(saved["nose_y"][0])
    patch = img[y - 3 : y + 4, x - 3 : x + 4].astype(float).mean((0, 1))
    assert patch[0] > patch[2] + 20
