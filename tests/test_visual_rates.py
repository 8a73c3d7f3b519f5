"""Visual features that describe the eyes, not the camera: frame rate, face loss, head frame.

Synthetic tracks carry a known eye motion (a slow drift and oscillations at
2.9, 5.8 and 8.7 Hz) plus independent per-frame tracking jitter, sampled at the
timestamps of cameras at 24, 25, 30, 50 and 60 fps and of a phone whose frame
intervals vary between 1/30 and 1/15 s.

The jitter is small next to the motion (0.002 eye widths a frame). White per-frame
jitter of a given size spreads over 0 to fps/2, so its share of any band falls as
1/fps: where jitter dominates a band, a 60 fps camera reads less there than a 24 fps
one, a property of the cameras that no resampling removes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cdr.features.augment import flip_track
from cdr.features.pupil import pupil_spectra
from cdr.features.segments import NotMeasurableWarning, frame_timing
from cdr.features.visual import visual_features

PUPILS = ["pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y"]
GAZES = ["gaze_head_left_x", "gaze_head_left_y", "gaze_head_right_x", "gaze_head_right_y"]
SECONDS = 240  # an interview's length: enough windows that which seconds are lost matters little
JITTER = 0.002  # eye widths, per frame, independent from frame to frame


def eye_motion(t: np.ndarray) -> np.ndarray:
    """Known pupil motion (eye widths)."""
    return (0.04 * np.sin(2 * np.pi * 0.4 * t) + 0.02 * np.sin(2 * np.pi * 2.9 * t + 1)
            + 0.012 * np.sin(2 * np.pi * 5.8 * t + 2) + 0.004 * np.sin(2 * np.pi * 8.7 * t + 3))


def camera_times(fps: float | None, seconds: float = SECONDS) -> np.ndarray:
    """Frame times of a camera at ``fps``, or (None) of a variable 15-30 fps one."""
    if fps is not None:
        return np.arange(int(seconds * fps)) / fps
    rng = np.random.default_rng(5)
    return np.cumsum(rng.uniform(1 / 30, 1 / 15, int(seconds * 25)))


def eye_track(times: np.ndarray, *, seed: int = 1, loss: float = 0.0) -> pd.DataFrame:
    """A track of the known motion plus jitter; ``loss``: that share of 1-s stretches without a face."""
    rng = np.random.default_rng(seed)
    n = len(times)
    cols = {c: eye_motion(times + 0.13 * k) + rng.normal(0, JITTER, n) for k, c in enumerate(PUPILS)}
    track = pd.DataFrame({"t": times, "face": np.ones(n, bool), **cols})
    if loss:
        seconds = np.arange(int(times[-1]) - 1)
        for s0 in np.random.default_rng(seed + 100).choice(seconds, int(loss * times[-1]), replace=False):
            gone = (track.t >= s0) & (track.t < s0 + 1)
            track.loc[gone, "face"] = False
            track.loc[gone, PUPILS] = np.nan
    return track


def low_bands(f: pd.Series) -> pd.Series:
    """The band energies below 10 Hz."""
    cols = [c for c in f.index if "_energy_" in c and float(c.rsplit("_", 1)[1][:-2].replace("p", ".")) < 10]
    return f[cols]


def spectra(track: pd.DataFrame) -> tuple[pd.Series, int, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f, n = pupil_spectra(track)
    return f, n, [str(w.message) for w in caught if issubclass(w.category, NotMeasurableWarning)]


@pytest.fixture(scope="module")
def at_30():
    return spectra(eye_track(camera_times(30)))[0]


@pytest.mark.parametrize("fps", [24, 25, 30, 50, 60, None])
def test_band_energies_below_10_hz_agree_across_frame_rates(fps, at_30):
    f, n, msgs = spectra(eye_track(camera_times(fps)))
    got, want = low_bands(f), low_bands(at_30)
    shown = got.notna()
    # every camera shows 0-9 Hz; the variable one's slow stretches (15 fps) only 0-6 Hz
    assert shown.sum() == (len(got) if fps else len(got) * 3 // 4)
    np.testing.assert_allclose(got[shown], want[shown], rtol=0.10)
    if fps in (30, None):  # 30 fps is not resampled; the variable rate never reaches a 15 Hz bin
        assert not msgs or fps is None
    if fps and fps != 30:
        assert f[[c for c in f.index if c.endswith("_energy_15hz")]].isna().all()
        assert sum("pupil bands from" in m for m in msgs) == 1  # one warning, naming the band
    if fps:  # the summaries use 0-9 Hz: they mean the same at every rate
        for s in ("total_energy", "centroid_hz", "high_low_ratio"):
            assert f[f"pupil.mean_dx_{s}"] == pytest.approx(at_30[f"pupil.mean_dx_{s}"], rel=0.10), s


@pytest.mark.parametrize("fps", [24, 30, 60, None])
def test_twenty_percent_face_loss_moves_band_energies_by_at_most_ten_percent(fps):
    times = camera_times(fps)
    full, n_full, _ = spectra(eye_track(times))
    lossy, n_lossy, _ = spectra(eye_track(times, loss=0.2))
    a, b = low_bands(full), low_bands(lossy)
    assert a.notna().equals(b.notna())
    np.testing.assert_allclose(b[b.notna()], a[a.notna()], rtol=0.10)
    assert 0.6 * n_full < n_lossy < 0.85 * n_full  # the windows touching a lost frame are dropped


def test_bands_above_the_nyquist_frequency_are_nan_with_one_warning():
    f, _, msgs = spectra(eye_track(camera_times(12)))  # half of 24 fps: Nyquist 6 Hz
    bands = f[[c for c in f.index if "_energy_" in c]]
    hz = np.array([float(c.rsplit("_", 1)[1][:-2]) for c in bands.index])
    assert bands[hz >= 6].isna().all() and bands[hz < 6].notna().all()
    assert len([m for m in msgs if "pupil bands from 6 Hz" in m]) == 1
    assert frame_timing(eye_track(camera_times(12)))[1] == pytest.approx(6.0)


def test_window_count_and_too_few_windows():
    times = camera_times(30, seconds=20)
    f, n, _ = spectra(eye_track(times))
    assert n == (20 * 30 - 1 - 10) // 5 + 1  # 10-sample windows, hop 5, over 599 differences
    short = eye_track(times).assign(face=lambda d: d.t < 1.5)
    f, n, msgs = spectra(short)
    assert 0 < n < 12 and f.isna().all() and any("STFT window" in m for m in msgs)
    out = visual_features(eye_track(times).assign(**{g: 0.0 for g in GAZES}, yaw=0.0, pitch=0.0, roll=0.0,
                                                  ear_left=0.3, ear_right=0.3))
    assert out["qc.pupil_windows"] == (20 * 30 - 1 - 10) // 5 + 1


def test_coupling_reads_the_head_frame_and_keeps_the_image_axes_version():
    """A head turn that moves the image-axes pupil but not the eye in the head couples only in image axes."""
    rng = np.random.default_rng(3)
    t = np.arange(30 * 120) / 30
    yaw = 20 * np.sin(2 * np.pi * 0.1 * t) + rng.normal(0, 2, len(t))
    gaze = rng.normal(0, 0.03, len(t))  # eye-in-head motion, independent of the head
    track = pd.DataFrame({
        "t": t, "face": True, "yaw": yaw, "pitch": rng.normal(0, 3, len(t)), "roll": 0.0,
        "ear_left": 0.3, "ear_right": 0.3,
        **{g: (gaze if g.endswith("_x") else rng.normal(0, 0.02, len(t))) for g in GAZES},
    })
    for p, g in zip(PUPILS, GAZES):  # image axes: the eye-in-head gaze plus the head turn's parallax
        track[p] = track[g] + (0.0017 * yaw if p.endswith("_x") else 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotMeasurableWarning)
        out = visual_features(track)
        mirrored = visual_features(flip_track(track))
    assert abs(out["coupling.horizontal_pearson"]) < 0.1
    assert out["coupling.image_horizontal_pearson"] > 0.5
    for c in ("coupling.horizontal_pearson", "coupling.image_horizontal_pearson"):
        assert mirrored[c] == pytest.approx(out[c], abs=1e-9)  # a mirror changes the sign of both


def test_flip_mirrors_the_head_frame_gaze_and_the_face_position():
    t = np.arange(10) / 30
    track = pd.DataFrame({"t": t, "face": True, "yaw": 5.0, "pitch": 1.0, "roll": 2.0,
                          **{c: 0.1 * (k + 1) for k, c in enumerate(PUPILS + GAZES)},
                          "ear_left": 0.3, "ear_right": 0.2, "face_x": 0.3, "face_y": 0.6, "face_scale": 0.2})
    f = flip_track(track)
    assert (f.gaze_head_left_x == -0.1 * 7).all() and (f.gaze_head_right_x == -0.1 * 5).all()
    assert (f.gaze_head_left_y == 0.1 * 8).all() and (f.gaze_head_right_y == 0.1 * 6).all()
    assert (f.face_x == 0.7).all() and (f.face_y == 0.6).all() and (f.face_scale == 0.2).all()
    pd.testing.assert_frame_equal(flip_track(f), track)
