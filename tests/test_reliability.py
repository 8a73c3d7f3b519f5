"""Bad and awkward inputs in one batch: each gets one line, the batch goes on, nothing is half-written."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from cdr.synth.face import FaceRenderer
from cdr.synth.video import write_video
from cdr.table import extract_folder

pytestmark = pytest.mark.slow


def _face_frames(renderer, n, size=(320, 240), face_width=0.4, **kw):
    return [renderer.render(frame_size=size, face_width=face_width, yaw=8 * np.sin(i / 3), **kw)[0]
            for i in range(n)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory, arctic_audio):
    """Every kind of awkward input side by side, extracted in one run."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("bad")
    r = FaceRenderer()
    frames = _face_frames(r, 60)
    speech = arctic_audio[0]
    write_video(root / "good.mp4", frames, 25, audio=np.r_[speech, speech[:8000]])
    (root / "zero.mp4").write_bytes(b"")
    data = (root / "good.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "text.mp4").write_text("this is not a video\n" * 20)
    import cv2

    ok, png = cv2.imencode(".png", cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    (root / "image.mov").write_bytes(png.tobytes())  # a PNG image under a video name
    (root / "x.mp4").mkdir()
    write_video(root / "oneframe.mp4", frames[:1], 25)
    write_video(root / "silent video.mp4", frames, 25)  # no audio track
    sf.write(root / "audio only.flac", speech, 16000)
    rng = np.random.default_rng(0)
    write_video(root / "noface.mp4", [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(30)], 25,
                audio=speech)
    write_video(root / "uhd.mp4", _face_frames(r, 6, size=(3840, 2160), face_width=0.25), 25)
    write_video(root / "rotated.mp4", frames[:30], 25, rotation=90)
    write_video(root / "hevc.mov", frames[:30], 25, codec="hevc")
    write_video(root / "Ünïcödé 'quoted' name.mp4", frames[:30], 25)
    (root / "loop").symlink_to(root, target_is_directory=True)
    os.mkfifo(root / "pipe.mp4")
    (root / "locked.mp4").write_bytes(data)
    os.chmod(root / "locked.mp4", 0)
    _vfr(root / "vfr.mp4", frames[:40])
    out = tmp_path_factory.mktemp("out")
    summary = extract_folder(root, out, progress=False)
    table = pd.read_parquet(out / "features.parquet")
    fails = pd.read_csv(out / "failures.csv").set_index("video_id")
    yield root, out, summary, table, fails
    os.chmod(root / "locked.mp4", 0o644)


def _vfr(path, frames):
    """H.264 with irregular frame times (20-80 ms apart)."""
    import fractions

    import av

    tb = fractions.Fraction(1, 1000)
    gaps = np.random.default_rng(1).integers(20, 80, len(frames))
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.codec_context.time_base = tb
        for f, t in zip(frames, np.cumsum(gaps) - gaps[0]):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = int(t), tb
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _fail(fails, vid, *words):
    assert vid in fails.index, f"{vid} should be in failures.csv"
    msg = fails.loc[vid, "error"]
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_the_batch_goes_on_and_nothing_is_half_written(batch):
    root, out, summary, table, fails = batch
    assert summary.ok
    assert set(table.index) | set(fails.index) == {
        "good", "zero", "truncated", "text", "image", "x", "oneframe", "silent video", "audio only",
        "noface", "uhd", "rotated", "hevc", "Ünïcödé 'quoted' name", "pipe", "locked", "vfr",
    }
    assert not set(table.index) & set(fails.index)
    assert not list(out.rglob("*.tmp"))


def test_unusable_files_get_one_line_naming_the_file_and_what_to_do(batch):
    *_, fails = batch
    _fail(fails, "zero", "zero.mp4", "empty (0 bytes)", "copy the recording again")
    _fail(fails, "text", "text.mp4", "not a readable media file", "re-encode")
    _fail(fails, "x", "x.mp4", "is a folder", "move it out")
    _fail(fails, "pipe", "pipe.mp4", "not a regular file")
    _fail(fails, "image", "image.mov", "is a still image (png), not a recording")
    if os.geteuid() != 0:  # root reads files whatever their mode
        _fail(fails, "locked", "locked.mp4", "not readable", "permissions")


def test_truncated_file_is_refused_or_kept_in_part(batch):
    _, _, _, table, fails = batch
    if "truncated" in fails.index:
        _fail(fails, "truncated", "truncated.mp4", "truncated or damaged", "copy it again")
    else:
        assert table.loc["truncated", "qc.n_frames"] < 60


def test_partly_usable_recordings_land_in_the_table_with_qc_flags(batch):
    _, _, _, table, _ = batch
    assert table.loc["silent video", "qc.audio_present"] == 0
    assert table.loc["silent video"].filter(like="gemaps.").isna().all()
    assert table.loc["audio only", "qc.video_present"] == 0
    assert table.loc["audio only"].filter(like="pupil.").isna().all()
    assert table.loc["noface", "qc.face_ratio"] == 0
    assert table.loc["noface"].filter(regex=r"^(pupil|coupling|pose)\.").isna().all()
    assert table.loc["noface", "qc.speech_ratio"] > 0.5
    assert table.loc["oneframe", "qc.n_frames"] == 1
    assert table.loc["oneframe"].filter(like="pupil.").isna().all()


@pytest.mark.parametrize("vid", ["uhd", "rotated", "hevc", "Ünïcödé 'quoted' name", "vfr", "good"])
def test_awkward_but_valid_videos_are_tracked(batch, vid):
    _, _, _, table, _ = batch
    assert table.loc[vid, "qc.face_ratio"] >= 0.8, vid


def test_rotated_video_is_tracked_upright(batch):
    root, *_ = batch
    from cdr.face.track import track_video

    upright = track_video(root / "good.mp4", crop_rate=0).frames.iloc[:30]
    turned = track_video(root / "rotated.mp4", crop_rate=0).frames
    assert turned["roll"].median() == pytest.approx(upright["roll"].median(), abs=3)
