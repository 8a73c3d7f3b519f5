"""Decoding: true timestamps, rotation, scaling, stride, audio, and bad files."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest

from cdr import io
from cdr.errors import InputError, NoAudioError


def write_clip(path: Path, *, times_ms, size=(64, 48), rotation=0, audio=None, sr=44100, layout="stereo"):
    """A tiny H.264 clip whose frame k shows grey level 10*k, at explicit millisecond timestamps."""
    tb = fractions.Fraction(1, 1000)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.time_base = tb
        if rotation:
            s.set_display_rotation(rotation)
        a = None
        if audio is not None:
            a = c.add_stream("aac", rate=sr, layout=layout)
        for k, t in enumerate(times_ms):
            img = np.full((size[1], size[0], 3), 10 * k % 250, np.uint8)
            img[:8, :16] = 255  # a white block in the top-left corner
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = int(t), tb
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            chans = 2 if layout == "stereo" else 1
            data = np.ascontiguousarray(np.tile(audio[None, :], (chans, 1)).astype(np.float32))
            f = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
            f.sample_rate, f.pts = sr, 0
            for p in a.encode(f):
                c.mux(p)
            for p in a.encode():
                c.mux(p)


def test_variable_frame_rate_timestamps_come_from_pts(tmp_path):
    times = [0, 33, 66, 150, 200, 400, 410]
    write_clip(tmp_path / "vfr.mp4", times_ms=times)
    got = [t for t, _ in io.iter_frames(tmp_path / "vfr.mp4")]
    np.testing.assert_allclose(got, np.array(times) / 1000, atol=1e-3)


def test_stride_and_decoder_scaling(tmp_path):
    write_clip(tmp_path / "c.mp4", times_ms=np.arange(10) * 40, size=(64, 48))
    frames = list(io.iter_frames(tmp_path / "c.mp4", width=32, stride=3))
    assert [round(t, 2) for t, _ in frames] == [0.0, 0.12, 0.24, 0.36]
    assert frames[0][1].shape == (24, 32, 3)  # aspect kept
    # frame k has grey level 10*k: stride 3 keeps frames 0, 3, 6, 9
    assert [int(np.median(f)) for _, f in frames] == pytest.approx([0, 30, 60, 90], abs=3)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_is_applied(tmp_path, rotation):
    write_clip(tmp_path / "r.mp4", times_ms=[0, 40], rotation=rotation)
    assert io.probe(tmp_path / "r.mp4").rotation == rotation
    _, f = next(io.iter_frames(tmp_path / "r.mp4"))
    assert f.shape == (64, 48, 3)  # portrait once displayed
    white = np.argwhere(f[..., 0] > 200)
    # The display matrix turns counter-clockwise: 90 moves the top-left block to the
    # bottom-left, 270 to the top-right.
    if rotation == 90:
        assert white[:, 0].min() >= 64 - 16 - 2 and white[:, 1].max() <= 8 + 2
    else:
        assert white[:, 0].max() <= 16 + 2 and white[:, 1].min() >= 48 - 8 - 2


def test_audio_is_16k_mono_float32_whatever_the_source(tmp_path):
    sr = 44100
    t = np.arange(int(sr * 1.0)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    write_clip(tmp_path / "a.mp4", times_ms=[0, 40], audio=tone, sr=sr, layout="stereo")
    y = io.read_audio(tmp_path / "a.mp4")
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(16000, rel=0.05)
    spectrum = np.abs(np.fft.rfft(y[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert peak_hz == pytest.approx(440, abs=3)
    assert np.abs(y[2000:14000]).max() == pytest.approx(0.5, abs=0.03)  # channels averaged


def test_no_audio_track_is_a_clear_result(tmp_path):
    write_clip(tmp_path / "v.mp4", times_ms=[0, 40])
    assert io.probe(tmp_path / "v.mp4").has_audio is False
    with pytest.raises(NoAudioError, match="v.mp4: has no audio track"):
        io.read_audio(tmp_path / "v.mp4")


def test_bad_files_give_one_line_errors_naming_the_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video at all\n" * 10)
    (tmp_path / "dir.mp4").mkdir()
    for name, words in [("empty.mp4", "empty"), ("text.mp4", "not a readable media file"),
                        ("dir.mp4", "is a folder"), ("missing.mp4", "does not exist")]:
        with pytest.raises(InputError) as err:
            io.probe(tmp_path / name)
        msg = str(err.value)
        assert name in msg and words in msg and "\n" not in msg


def test_list_inputs_ids_and_symlink_loops(tmp_path):
    (tmp_path / "site A" / "visit 1").mkdir(parents=True)
    (tmp_path / "site A" / "visit 1" / "p01 'José'.mp4").write_bytes(b"x")
    (tmp_path / "p02.WAV").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "site A" / "loop").symlink_to(tmp_path, target_is_directory=True)
    ids = [r.video_id for r in io.list_inputs(tmp_path)]
    assert ids == ["p02", "site A/visit 1/p01 'José'"]
    assert io.list_inputs(tmp_path)[0].audio_only


def test_truncated_video_keeps_the_frames_before_the_damage(tmp_path):
    write_clip(tmp_path / "full.mp4", times_ms=np.arange(60) * 40, size=(160, 120))
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    try:
        n = sum(1 for _ in io.iter_frames(tmp_path / "cut.mp4"))
    except InputError as exc:  # a cut before the index: refused with a message, not a crash
        assert "cut.mp4" in str(exc)
    else:
        assert 0 <= n < 60


@pytest.mark.parametrize("suffix", [".wav", ".mkv"])
def test_a_long_audio_track_is_decoded_into_one_buffer(tmp_path, suffix):
    """The decoded samples are held once, not as chunks plus their joined copy (2x at the peak)."""
    import tracemalloc

    import soundfile as sf

    sr = 16_000
    t = np.arange(6 * 60 * sr) / sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.3 * t) > 0)).astype(np.float32)
    path = tmp_path / f"long{suffix}"
    if suffix == ".wav":
        sf.write(path, y, sr, subtype="FLOAT")
    else:  # a container whose header gives no exact length: the buffer grows as needed
        with av.open(str(path), "w") as c:
            s = c.add_stream("pcm_f32le", rate=sr)
            s.layout = "mono"
            for i in range(0, y.size, 4096):
                frame = av.AudioFrame.from_ndarray(y[None, i:i + 4096], format="flt", layout="mono")
                frame.sample_rate, frame.pts = sr, i
                for packet in s.encode(frame):
                    c.mux(packet)
            for packet in s.encode(None):
                c.mux(packet)
    io.read_audio(path, max_s=1.0)  # the decoder's first use is not what is measured
    tracemalloc.start()
    try:
        got = io.read_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(got, y, atol=1e-6)
    assert peak < 1.6 * got.nbytes, f"peak {peak / got.nbytes:.2f}x the decoded samples"
