"""Hostile audio, written as real files (soundfile, PyAV) and extracted through cdr-extract's code.

Each fault is checked against known truth: the values of the clean recording, the share
of samples the test itself clipped, the rate it wrote, the lengths it encoded.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from cdr.extract import extract_rows
from cdr.features.audio_qc import AudioMeter, polarity

SR = 16_000


@pytest.fixture(scope="module")
def speech(arctic_audio) -> np.ndarray:
    """12 s of speech (the Arctic sentence three times), mono float32 at 16 kHz."""
    return np.tile(arctic_audio[0], 3)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, speech):
    path = tmp_path_factory.mktemp("clean") / "clean.wav"
    sf.write(path, speech, SR)
    return extract_rows(path, "clean")


def _row(ex):
    return ex.rows.iloc[0]


def _speech_columns(row):
    return [c for c in row.index if c.split(".")[0] in ("mfcc", "gemaps", "voice")]


def test_clean_speech_has_no_audio_warning(clean):
    row = _row(clean)
    flags = ("clipped", "narrow-band", "phase-inverted", "audio streams", "longer than the other")
    assert not [w for w in clean.warnings if any(f in w for f in flags)], clean.warnings
    assert row["qc.audio_rate_hz"] == SR
    assert row["qc.clipped_ratio"] < 1e-3
    assert np.isnan(row["qc.av_length_diff_s"])  # audio only


def test_phase_inverted_stereo_keeps_its_speech(tmp_path, speech, clean):
    """left = -right averages to silence; the track is downmixed with the polarity aligned."""
    path = tmp_path / "inverted.wav"
    sf.write(path, np.stack([speech, -speech], axis=1), SR)
    ex = extract_rows(path, "inverted")
    row, ref = _row(ex), _row(clean)
    cols = _speech_columns(row)
    assert row[cols].notna().sum() == ref[cols].notna().sum() > 100
    np.testing.assert_allclose(row[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-3, atol=1e-4)
    assert [w for w in ex.warnings if "channel 2 is phase-inverted" in w]


def test_ordinary_stereo_is_averaged_as_before():
    rng = np.random.default_rng(0)
    left = rng.normal(size=SR)
    right = 0.5 * left + rng.normal(size=SR)  # correlated, not cancelling
    assert polarity(np.stack([left, right])).tolist() == [1.0, 1.0]
    assert polarity(np.stack([left, -left])).tolist() == [1.0, -1.0]
    meter = AudioMeter()
    meter.start(rate_hz=SR, out_rate_hz=SR)
    mono = np.concatenate(meter.downmix(np.stack([left, right]).astype(np.float32)) + meter.flush())
    np.testing.assert_allclose(mono, (left + right) / 2, rtol=1e-5, atol=1e-6)


def _write_audio_streams(path: Path, streams: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as out:
        outs = [out.add_stream("pcm_s16le", rate=SR, layout="mono") for _ in streams]
        for i in range(0, len(streams[0]), 1024):
            for s, y in zip(outs, streams):
                pcm = (np.clip(y[i:i + 1024], -1, 1) * 32767).astype(np.int16)[None, :]
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = SR, i, Fraction(1, SR)
                out.mux(s.encode(frame))
        for s in outs:
            out.mux(s.encode(None))


def test_speech_on_the_second_audio_stream_is_found(tmp_path, speech):
    path, one = tmp_path / "two streams.mkv", tmp_path / "one stream.mkv"
    noise = np.random.default_rng(1).normal(scale=1e-4, size=speech.size).astype(np.float32)
    _write_audio_streams(path, [noise, speech])
    _write_audio_streams(one, [speech])
    ex = extract_rows(path, "two")
    row, ref = _row(ex), _row(extract_rows(one, "one"))
    assert abs(row["qc.speech_ratio"] - ref["qc.speech_ratio"]) < 0.01
    np.testing.assert_allclose(row[_speech_columns(row)].to_numpy(float),
                               ref[_speech_columns(ref)].to_numpy(float), rtol=1e-6, atol=1e-9)
    (line,) = [w for w in ex.warnings if "audio streams" in w]
    assert "has 2 audio streams; used stream #1 (" in line and "not #0 (0% speech)" in line


@pytest.mark.parametrize("gain, warned", [(8.0, True), (2.5, False)])
def test_clipping_is_measured_and_warned(tmp_path, speech, gain, warned):
    path = tmp_path / "clipped.wav"
    sf.write(path, np.clip(speech * gain, -1, 1), SR, subtype="PCM_16")
    truth = float(np.mean(np.abs(speech * gain) >= 0.999))  # what the test itself clipped (to 0.1 %)
    ex = extract_rows(path, "clipped")
    assert abs(_row(ex)["qc.clipped_ratio"] - truth) < 2e-3
    assert (truth > 0.01) == warned  # 11 % and 0.3 % of the samples
    assert bool([w for w in ex.warnings if "of the audio samples are clipped" in w]) == warned


def test_narrow_band_audio_is_flagged(tmp_path, speech):
    from cdr.features.speech import prepare_audio

    narrow = prepare_audio(speech, SR)[::2]  # 8 kHz telephone rate (the test speech has little above 4 kHz)
    path = tmp_path / "phone.wav"
    sf.write(path, narrow, 8000)
    ex = extract_rows(path, "phone")
    assert _row(ex)["qc.audio_rate_hz"] == 8000
    assert [w for w in ex.warnings if "sampled at 8000 Hz (narrow-band" in w]


def test_speech_level_follows_the_gain(tmp_path, speech, clean):
    path = tmp_path / "quiet.wav"
    sf.write(path, speech * 0.1, SR)
    quiet = _row(extract_rows(path, "quiet"))
    assert quiet["qc.audio_level_dbfs"] == pytest.approx(_row(clean)["qc.audio_level_dbfs"] - 20.0, abs=0.05)
    assert -40 < _row(clean)["qc.audio_level_dbfs"] < 0


def _write_video(path: Path, video_s: float, audio: np.ndarray) -> None:
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("pcm_s16le", rate=SR, layout="mono")
        for i in range(int(round(video_s * 25))):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        pcm = (audio * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        out.mux(a.encode(frame))
        out.mux(a.encode(None))


@pytest.mark.parametrize("video_s, warned", [(4.0, True), (12.0, False)])
def test_audio_and_video_of_different_lengths(tmp_path, speech, video_s, warned):
    path = tmp_path / "av.mkv"
    _write_video(path, video_s, speech)  # 12 s of audio
    ex = extract_rows(path, "av")
    assert _row(ex)["qc.av_length_diff_s"] == pytest.approx(12.0 - video_s, abs=0.1)
    assert bool([w for w in ex.warnings if "s longer than the other" in w]) == warned
