"""Visual feature groups (pupil., coupling., pose.) on synthetic tracks with planted truth.

The last test renders a short face video and its mirror image, tracks both with
the real tracker and checks that mirroring the track matches tracking the
mirrored video.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdr.errors import InputError
from cdr.features.augment import flip_track, flipped_id, is_flipped_id
from cdr.features.coupling import COUPLING_NAMES
from cdr.features.pose import POSE_NAMES
from cdr.features.pupil import PUPIL_NAMES, pupil_features
from cdr.features.segments import NotMeasurableWarning, resample_segments
from cdr.features.visual import VISUAL_NAMES, visual_features, visual_names

PUPILS = ["pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y"]
GAZES = ["gaze_head_left_x", "gaze_head_left_y", "gaze_head_right_x", "gaze_head_right_y"]


def make_track(seconds: float, fps: float, *, seed: int = 0, t0: float = 0.0, **columns) -> pd.DataFrame:
    """A face track with mild noise everywhere; ``columns`` override with arrays or f(t)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    t = t0 + np.arange(n) / fps
    base = {
        "yaw": rng.normal(0, 3, n), "pitch": rng.normal(0, 3, n), "roll": rng.normal(0, 1, n),
        **{c: rng.normal(0, 0.01, n) for c in PUPILS + GAZES},
        "ear_left": 0.3 + rng.normal(0, 0.005, n), "ear_right": 0.3 + rng.normal(0, 0.005, n),
    }
    for k, v in columns.items():
        base[k] = v(t) if callable(v) else np.broadcast_to(np.asarray(v, float), (n,)).copy()
    for p, g in zip(PUPILS, GAZES):  # the eye-in-head gaze follows the pupil unless set
        if p in columns and g not in columns:
            base[g] = base[p].copy()
    return pd.DataFrame({"t": t, "face": np.ones(n, bool), **base})


def features(track: pd.DataFrame, **kw) -> tuple[pd.Series, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = visual_features(track, **kw)
    return out, [str(w.message) for w in caught if issubclass(w.category, NotMeasurableWarning)]


def energies(f: pd.Series, stem: str) -> pd.Series:
    return f[[n for n in f.index if n.startswith(f"pupil.{stem}_energy_")]]


# ---------------------------------------------------------------- names


def test_names_are_declared_unique_grouped_and_carry_hz():
    assert VISUAL_NAMES == PUPIL_NAMES + COUPLING_NAMES + POSE_NAMES + ["qc.pupil_windows"]
    assert len(set(VISUAL_NAMES)) == len(VISUAL_NAMES) == 81
    assert {n.split(".", 1)[0] for n in VISUAL_NAMES} == {"pupil", "coupling", "pose", "qc"}
    assert "coupling.horizontal_pearson" in COUPLING_NAMES and "coupling.image_horizontal_pearson" in COUPLING_NAMES
    assert all(n.count(".") == 1 for n in VISUAL_NAMES)
    bins = [n.rsplit("_", 1)[1] for n in VISUAL_NAMES if n.startswith("pupil.left_dx_energy_")]
    assert bins == ["0hz", "3hz", "6hz", "9hz", "12hz", "15hz"]
    assert "pose.blink_rate_per_min" in VISUAL_NAMES
    assert "pupil.left_dx_energy_2p5hz" in visual_names(rate=25.0)


@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0])
def test_names_identical_for_every_track(fps):
    good = make_track(20, fps)
    gappy = good.assign(face=(np.arange(len(good)) % 20) < 4)
    empty = good.iloc[:0]
    for track in (good, gappy, empty):
        out, _ = features(track)
        assert list(out.index) == VISUAL_NAMES


def test_other_rate_gives_its_own_declared_bins_and_nullable_face_is_read():
    track = make_track(20, 30).astype({"face": "boolean"})
    track.loc[5:40, "face"] = pd.NA
    out, _ = features(track, rate=25.0)
    assert list(out.index) == visual_names(rate=25.0) and out["pupil.left_dx_energy_2p5hz"] > 0


def test_missing_column_is_one_clear_error():
    with pytest.raises(InputError, match="pupil_left_x"):
        visual_features(make_track(5, 30).drop(columns="pupil_left_x"))


# ---------------------------------------------------------------- pupil spectra


@pytest.mark.parametrize("fps", [24.0, 30.0])
@pytest.mark.parametrize("phase", [0.0, 1.1, np.pi / 2])
def test_oscillation_peaks_in_its_bin_at_any_frame_rate(fps, phase):
    amp = 0.05
    track = make_track(
        30, fps, seed=3,
        pupil_left_x=lambda t: amp * np.sin(2 * np.pi * 3 * t + phase),
        pupil_left_y=lambda t: amp * np.sin(2 * np.pi * 6 * t + phase),
        pupil_right_x=lambda t: amp * np.sin(2 * np.pi * 9 * t + phase),
    )
    out, _ = features(track)
    assert energies(out, "left_dx").idxmax() == "pupil.left_dx_energy_3hz"
    assert energies(out, "left_dy").idxmax() == "pupil.left_dy_energy_6hz"
    assert energies(out, "right_dx").idxmax() == "pupil.right_dx_energy_9hz"
    # dx of A sin(2 pi f t) at 30 Hz has amplitude 2 A sin(pi f / 30); an on-bin
    # sinusoid shows half its amplitude in a magnitude-scaled one-sided STFT.
    expected = (amp * np.sin(np.pi * 3 / 30)) ** 2
    assert out["pupil.left_dx_energy_3hz"] == pytest.approx(expected, rel=0.15)
    assert out["pupil.left_dx_centroid_hz"] < out["pupil.right_dx_centroid_hz"]
    assert out["pupil.left_dx_high_low_ratio"] < 1 < out["pupil.right_dx_high_low_ratio"]


def test_energy_is_independent_of_recording_length():
    osc = {"pupil_left_x": lambda t: 0.05 * np.sin(2 * np.pi * 3 * t)}
    short, _ = features(make_track(20, 30, **osc))
    long, _ = features(make_track(120, 30, **osc))
    assert long["pupil.left_dx_energy_3hz"] == pytest.approx(short["pupil.left_dx_energy_3hz"], rel=0.02)


def test_long_gap_is_never_interpolated():
    # Pupils sit still at 0 for 10 s, the face is lost for 1 s, pupils sit still at 0.5.
    jump = {c: (lambda t: np.where(t < 10, 0.0, 0.5)) for c in PUPILS}
    jump.update(yaw=lambda t: np.where(t < 10, 0.0, 20.0), pitch=1.0, roll=lambda t: 0.1 * np.sin(t))
    track = make_track(21, 30, **jump)
    lost = (track.t > 10 - 1 / 60) & (track.t < 11)  # 0 ... 9.967 | 11.0 ... : 1.03 s hole
    track.loc[lost, "face"] = False
    track.loc[lost, PUPILS] = np.nan
    out, msgs = features(track)
    assert (energies(out, "left_dx") == 0).all() and out["pupil.mean_dx_total_energy"] == 0
    assert np.isnan(out["pupil.left_dx_centroid_hz"]) and msgs  # nothing moved: said, not 0
    assert out["pose.yaw_angvel_dps"] == 0 and out["pose.yaw_range_deg"] == pytest.approx(20)


def test_no_gap_is_bridged_not_even_one_frame():
    jump = {c: (lambda t: np.where(t < 10, 0.0, 0.5)) for c in PUPILS}
    track = make_track(21, 30, **jump)
    lost = (track.t > 10 - 1 / 60) & (track.t < 10 + 1 / 60)  # one frame without a face, at the jump
    track.loc[lost, "face"] = False
    out, _ = features(track)
    assert out["pupil.left_dx_energy_0hz"] == 0  # the jump lies across the gap: no motion invented
    segs = resample_segments(track, PUPILS)
    assert len(segs) == 2 and segs[0][:, 0].max() == 0 and segs[1][:, 0].min() == 0.5
    # a dropped frame (a missing timestamp, no face-less row) shorter than 2.5 intervals is no gap
    kept = track[~lost].reset_index(drop=True).assign(face=True)
    assert len(resample_segments(kept, PUPILS)) == 1


def test_segments_shorter_than_one_window_are_dropped():
    track = make_track(10, 30)
    track["face"] = (np.arange(len(track)) % 30) < 10  # 10-frame bursts: one sample short of a window
    assert resample_segments(track, PUPILS) == []
    track["face"] = (np.arange(len(track)) % 30) < 11
    assert len(resample_segments(track, PUPILS)) == 10


def test_track_full_of_gaps_is_nan_with_warnings():
    track = make_track(60, 30)
    track["face"] = (np.arange(len(track)) % 25) < 5  # 5 frames of face, then 0.67 s without
    track.loc[~track.face, ["yaw", "pitch", "roll", *PUPILS, "ear_left", "ear_right"]] = np.nan
    out, msgs = features(track)
    assert out.drop("qc.pupil_windows").isna().all() and out["qc.pupil_windows"] == 0
    assert any(m.startswith("pupil") for m in msgs) and any(m.startswith("coupling") for m in msgs)
    assert any(m.startswith("pose") for m in msgs) and any(m.startswith("blink") for m in msgs)


# ---------------------------------------------------------------- coupling


def correlated(n: int, rho: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a, b = rng.normal(size=(2, n))
    return a, rho * a + np.sqrt(1 - rho**2) * b


@pytest.mark.parametrize("fps", [24.0, 30.0])
@pytest.mark.parametrize("rho_h, rho_v", [(0.0, 0.5), (0.5, -0.8), (-0.8, 0.0)])
def test_planted_correlations_are_recovered(fps, rho_h, rho_v):
    rng = np.random.default_rng([int(10 * (rho_h + 1)), int(10 * (rho_v + 1)), int(fps)])
    n = int(600 * fps)  # 10 minutes: the standard error of r is below 0.01
    yaw, px = correlated(n, rho_h, rng)
    pitch, py = correlated(n, rho_v, rng)
    track = make_track(600, fps, yaw=10 * yaw, pitch=8 * pitch, pupil_left_x=0.05 * px,
                       pupil_right_x=0.05 * px, pupil_left_y=0.03 * py, pupil_right_y=0.03 * py)
    track.loc[(track.t % 60) > 58, "face"] = False  # a 2 s hole every minute
    out, _ = features(track)
    for pair, rho in (("horizontal", rho_h), ("vertical", rho_v)):
        spearman = 6 / np.pi * np.arcsin(rho / 2)  # Spearman's rho of a bivariate normal
        assert out[f"coupling.{pair}_pearson"] == pytest.approx(rho, abs=0.05)
        assert out[f"coupling.{pair}_spearman"] == pytest.approx(spearman, abs=0.05)
        assert out[f"coupling.{pair}_win_mean"] == pytest.approx(rho, abs=0.05)
        assert 0 < out[f"coupling.{pair}_win_std"] < 0.2
        if fps == 30.0:  # no interpolation: windows of 150 independent samples
            assert out[f"coupling.{pair}_win_std"] == pytest.approx((1 - rho**2) / np.sqrt(150), rel=0.3)


def test_constant_series_gives_nan_correlation_not_an_error():
    out, msgs = features(make_track(30, 30, yaw=5.0))
    assert np.isnan(out["coupling.horizontal_pearson"]) and np.isnan(out["coupling.horizontal_spearman"])
    assert np.isfinite(out["coupling.vertical_pearson"])
    assert any("horizontal" in m for m in msgs)


# ---------------------------------------------------------------- pose and blinks


@pytest.mark.parametrize("fps", [24.0, 30.0])
def test_pose_statistics_and_blink_rate(fps):
    amp, f = 10.0, 0.5

    def ear(t):  # 0.15 s blinks every 4 s (15 per minute) and one 1.5 s closure that is no blink
        closed = ((t % 4) > 2) & ((t % 4) < 2.15) | ((t > 31) & (t < 32.5))
        return np.where(closed, 0.08, 0.3)

    track = make_track(60, fps, yaw=lambda t: amp * np.sin(2 * np.pi * f * t), pitch=0.5, roll=lambda t: 2 * t / 60,
                       ear_left=ear, ear_right=ear)
    out, _ = features(track)
    assert out["pose.yaw_std_deg"] == pytest.approx(amp / np.sqrt(2), rel=0.02)
    assert out["pose.yaw_range_deg"] == pytest.approx(2 * amp, rel=0.02)
    assert out["pose.yaw_angvel_dps"] == pytest.approx(4 * amp * f, rel=0.02)  # mean |d/dt A sin|
    assert out["pose.roll_angvel_dps"] == pytest.approx(2 / 60, rel=0.02)
    assert out["pose.pitch_std_deg"] == 0
    assert out["pose.blink_rate_per_min"] == pytest.approx(15, abs=0.5)


# ---------------------------------------------------------------- mirroring


def test_flip_twice_is_identity_and_signs_follow_the_contract():
    track = make_track(20, 30, seed=5)
    track.loc[10:20, "face"] = False
    track.loc[10:20, PUPILS] = np.nan
    flipped = flip_track(track)
    pd.testing.assert_frame_equal(flip_track(flipped), track)
    np.testing.assert_array_equal(flipped.pupil_left_x, -track.pupil_right_x)
    np.testing.assert_array_equal(flipped.pupil_right_y, track.pupil_left_y)
    np.testing.assert_array_equal(flipped.ear_left, track.ear_right)
    np.testing.assert_array_equal(flipped.yaw, -track.yaw)
    np.testing.assert_array_equal(flipped.roll, -track.roll)
    np.testing.assert_array_equal(flipped.pitch, track.pitch)
    assert flipped_id("a/b") == "a/b#flip" and is_flipped_id("a/b#flip") and not is_flipped_id("a/b")


def test_flipped_features_swap_eyes_and_keep_coupling():
    rng = np.random.default_rng(7)
    n = 30 * 120
    yaw, px = correlated(n, 0.6, rng)
    track = make_track(120, 30, yaw=10 * yaw, pupil_left_x=0.05 * px + 0.02 * np.sin(np.arange(n) * 0.7),
                       pupil_right_x=lambda t: 0.04 * np.sin(2 * np.pi * 3 * t), ear_left=0.31)
    a, _ = features(track)
    b, _ = features(flip_track(track))
    for col in a.index:
        mirror = col.replace("left", "@").replace("right", "left").replace("@", "right")
        assert b[mirror] == pytest.approx(a[col], rel=1e-9, abs=1e-15, nan_ok=True), col
    assert a["coupling.horizontal_pearson"] > 0.3  # the planted coupling survives the mirror
    assert a["pupil.left_dx_total_energy"] != pytest.approx(a["pupil.right_dx_total_energy"], rel=0.1)


# ---------------------------------------------------------------- properties


@st.composite
def odd_tracks(draw):
    """Tracks from clean to broken: NaN, inf, constants, extremes, jittered or unsorted times."""
    n = draw(st.sampled_from([0, 1, 2, 11, 40, 90, 200, 420]))
    fps = draw(st.sampled_from([24.0, 30.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = np.arange(n) / fps + draw(st.floats(0, 1e4))
    if draw(st.booleans()):
        t = t + rng.uniform(-0.7, 0.7, n) / fps  # jitter, even out of order
    face = rng.uniform(size=n) < draw(st.sampled_from([1.0, 0.97, 0.5, 0.0]))
    specials = [np.nan, np.inf, -np.inf, 0.0, 1e300, -1e300, 5e-324, 181.0]
    kinds = ["noise"] * 8 + ["constant", "nan", "extreme", "specials"]
    cols = {}
    for c in ["yaw", "pitch", "roll", *PUPILS, *GAZES, "ear_left", "ear_right"]:
        kind = draw(st.sampled_from(kinds))
        scale = 10.0 if c in ("yaw", "pitch", "roll") else 0.05
        noise = rng.normal(0, scale, n) + (0.3 if c.startswith("ear") else 0)
        if kind == "constant":
            cols[c] = np.full(n, draw(st.sampled_from([0.0, 0.3, -179.9, 1e-300, 1e308])))
        elif kind == "nan":
            cols[c] = np.full(n, np.nan)
        elif kind == "extreme":
            cols[c] = rng.choice([-1e308, 1e308, -179.9, 179.9, 2.9, -2.9], n)
        elif kind == "specials":
            cols[c] = np.where(rng.uniform(size=n) < 0.02, rng.choice(specials, n), noise)
        else:
            cols[c] = noise
    return pd.DataFrame({"t": t, "face": face, **cols})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_tracks())
def test_any_track_gives_finite_or_announced_nan(track):
    out, msgs = features(track)
    assert list(out.index) == VISUAL_NAMES
    values = out.to_numpy()
    assert np.all(np.isfinite(values) | np.isnan(values))
    if np.isnan(values).any() or (values == 0).any():
        assert msgs, "a NaN or a 0 came out without a warning"


@settings(max_examples=30, deadline=None)
@given(odd_tracks())
def test_flip_twice_is_identity_on_any_track(track):
    pd.testing.assert_frame_equal(flip_track(flip_track(track)), track)


def test_pupil_group_alone_has_its_declared_names():
    out = pupil_features(make_track(10, 30))
    assert list(out.index) == PUPIL_NAMES and out.notna().all()


# ---------------------------------------------------------------- mirrored video, real tracker


def _write_video(path, frames: list[np.ndarray], fps: int) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def _render_face_video(seconds: float, fps: int, tracking) -> list[np.ndarray]:
    """The astronaut photograph, rolling and drifting, with the irises moved left-right.

    The image-left iris moves at 1 Hz and 3 Hz, the image-right one at 1 Hz only,
    so that a left/right mix-up shows in the features.
    """
    import cv2
    from skimage.data import astronaut

    img = np.ascontiguousarray(astronaut()[:320, 80:400])  # the head and shoulders
    lm = tracking.landmarks_in_image(img)
    assert lm is not None, "the tracker found no face in skimage's astronaut"
    irises = [lm[tracking.LEFT_IRIS, :2], lm[tracking.RIGHT_IRIS, :2]]
    eye_w = np.mean([np.hypot(*(lm[a, :2] - lm[b, :2])) for a, b in
                     (tracking.LEFT_EYE_CORNERS, tracking.RIGHT_EYE_CORNERS)])
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    bumps = [np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * (0.3 * eye_w) ** 2)).astype(np.float32)
             for x, y in irises]
    frames = []
    for t in np.arange(int(seconds * fps)) / fps:
        shift_l = eye_w * 0.06 * (np.sin(2 * np.pi * 1.0 * t) + np.sin(2 * np.pi * 3.0 * t))
        shift_r = eye_w * 0.06 * np.sin(2 * np.pi * 1.0 * t)
        eyes = cv2.remap(img, xx - shift_l * bumps[0] - shift_r * bumps[1], yy, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
        m = cv2.getRotationMatrix2D((160, 150), 8 * np.sin(np.pi * t) + 3 * np.sin(2 * np.pi * 1.3 * t), 1.0)
        m[:, 2] += (12 * np.sin(2 * np.pi * 0.3 * t), 6 * np.sin(2 * np.pi * 0.7 * t))
        frames.append(cv2.warpAffine(eyes, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT))
    return frames


@pytest.mark.slow
def test_mirrored_track_matches_tracking_the_mirrored_video(tmp_path):
    """flip_track(track(video)) ~ track(mirrored video), for what the video actually moves.

    Tolerances (largest difference measured in brackets):

    - head roll std, range and angular velocity: 10 % relative (5 %);
    - pupil dx energy in the 0 Hz and 3 Hz bins, where the planted iris motion
      lies, for each eye and their mean: 60 % relative (41 %); a left/right
      mix-up would be off by a factor of ~4 in the 3 Hz bin;
    - per-frame correlation of the mirrored track with the track of the mirrored
      video: at least 0.95 for roll (0.999) and 0.7 for pupil x (0.82, 0.92);
      a wrong sign would give about -0.9.

    Not compared: bins of 6 Hz and up (and so total energy, centroid and
    high/low ratio), which hold the tracker's frame-to-frame jitter; that jitter
    is not mirror-symmetric (up to 3x apart at 15 Hz). Nor yaw, pitch and
    coupling: the rendered head turns only in the image plane, so they hold
    tracker noise only.
    """
    tracking = pytest.importorskip("cdr.face.track", reason="needs the face tracker cdr.face.track")
    frames = _render_face_video(8.0, 30, tracking)
    _write_video(tmp_path / "a.mp4", frames, 30)
    _write_video(tmp_path / "b.mp4", [np.ascontiguousarray(f[:, ::-1]) for f in frames], 30)
    track_a, _, _ = tracking.track_video(tmp_path / "a.mp4", crop_rate=0)
    track_b, _, _ = tracking.track_video(tmp_path / "b.mp4", crop_rate=0)
    assert track_a.face.mean() > 0.95 and track_b.face.mean() > 0.95

    mirrored = flip_track(track_a)
    for col, least in (("roll", 0.95), ("pupil_left_x", 0.7), ("pupil_right_x", 0.7)):
        assert np.corrcoef(mirrored[col], track_b[col])[0, 1] > least, col

    fa, _ = features(mirrored)
    fb, _ = features(track_b)
    for col in ("pose.roll_std_deg", "pose.roll_range_deg", "pose.roll_angvel_dps"):
        assert fa[col] == pytest.approx(fb[col], rel=0.10), col
    for eye in ("left", "right", "mean"):
        for hz in (0, 3):
            col = f"pupil.{eye}_dx_energy_{hz}hz"
            assert fa[col] == pytest.approx(fb[col], rel=0.6), col
    # the 3 Hz eye is on the image's right after mirroring, in both
    for f in (fa, fb):
        assert f["pupil.right_dx_energy_3hz"] > 2.5 * f["pupil.left_dx_energy_3hz"]
