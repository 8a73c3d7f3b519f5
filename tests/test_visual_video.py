"""The patient's eyes and face in real-face videos, tracked by the real tracker.

Every video is made here from photographs shipped in registry packages
(scikit-image's astronaut, matplotlib's Grace Hopper) and encoded with PyAV;
no media is committed. Every video is encoded with ``reproducible=True`` (one thread, no
macroblock-tree rate control): otherwise x264 can write a different bitstream for the same
frames from one encode to the next, and a band measured on a small planted motion moves with it.
The tracker itself gives the same track for the same file in any process.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cdr.face.track import track_video
from cdr.features.pupil import pupil_spectra
from cdr.features.segments import NotMeasurableWarning
from cdr.synth.eyes import moving_eyes
from cdr.synth.face import FaceRenderer
from cdr.synth.video import render_face_video, write_video



def _spectra(track: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f, _ = pupil_spectra(track)
    return f, [str(w.message) for w in caught if issubclass(w.category, NotMeasurableWarning)]


def _bands(f: pd.Series, below: float = np.inf) -> pd.Series:
    cols = [c for c in f.index if "_energy_" in c and float(c.rsplit("_", 1)[1][:-2].replace("p", ".")) < below]
    return f[cols]


SECONDS = 30.0


@pytest.fixture(scope="module")
def astronaut_frames():
    """30 s of the astronaut at 24 fps, irises moving in x and y at 1-3 Hz (:func:`cdr.synth.eyes.moving_eyes`)."""
    return moving_eyes(SECONDS, 24)


@pytest.fixture(scope="module")
def full_rate(astronaut_frames, tmp_path_factory):
    """Band energies of the 24-fps astronaut.

    This clip and its half-rate and blacked-out copies are encoded frame by frame (``keyint=1``),
    so that a frame they share is encoded alike and a comparison measures the frame rate or the
    face loss, not the codec. With inter-frame coding the frames after each black stretch are
    predicted from black, and a band holding only tracking jitter (9 Hz; nothing is planted
    there) moved by 0.27 for that reason alone.
    """
    path = tmp_path_factory.mktemp("real") / "a24.mp4"
    write_video(path, astronaut_frames, 24, reproducible=True, keyint=1)
    track = track_video(path, crop_rate=0).frames
    assert track["face"].mean() > 0.95
    return _spectra(track)[0]


def test_reproducible_encoding_writes_the_same_file_every_time(astronaut_frames, full_rate, tmp_path):
    """The 24-fps clip was encoded in this process first: with x264's macroblock tree, the next
    encodes of the same 12-fps frames often differed from each other (8 of 21 in one check)."""
    files = [write_video(tmp_path / f"a12_{i}.mp4", astronaut_frames[::2], 12, reproducible=True)
             for i in range(3)]
    first = files[0].read_bytes()
    assert all(f.read_bytes() == first for f in files[1:])


@pytest.mark.slow
def test_real_face_at_half_the_frame_rate(astronaut_frames, full_rate, tmp_path):
    write_video(tmp_path / "a12.mp4", astronaut_frames[::2], 12, reproducible=True, keyint=1)
    track = track_video(tmp_path / "a12.mp4", crop_rate=0).frames
    half, msgs = _spectra(track)
    # 0-3 Hz, where the planted iris motion lies, agree within 30 %
    np.testing.assert_allclose(_bands(half, 4).to_numpy(), _bands(full_rate, 4).to_numpy(), rtol=0.30)
    # nothing at or above the new Nyquist frequency (6 Hz) has a value, and one warning says so
    above = _bands(half).drop(_bands(half, 6).index)
    assert len(above) and above.isna().all()
    assert sum("pupil bands from 6 Hz" in m for m in msgs) == 1


@pytest.mark.slow
def test_real_face_blacked_out_a_fifth_of_the_time(astronaut_frames, full_rate, tmp_path):
    frames = [f.copy() for f in astronaut_frames]
    t = np.arange(len(frames)) / 24
    hidden = np.zeros(len(frames), bool)
    for start in (2.5, 7.0, 11.5, 16.0, 19.5, 25.0):  # 6 x 1 s of 30 s
        hidden |= (t >= start) & (t < start + 1)
    for i in np.flatnonzero(hidden):
        frames[i][:] = 0
    write_video(tmp_path / "dark.mp4", frames, 24, reproducible=True, keyint=1)
    track = track_video(tmp_path / "dark.mp4", crop_rate=0).frames
    assert not track.loc[hidden, "face"].any()
    lossy, _ = _spectra(track)
    a, b = _bands(full_rate), _bands(lossy)
    assert a.notna().equals(b.notna())
    np.testing.assert_allclose(b[b.notna()].to_numpy(), a[a.notna()].to_numpy(), rtol=0.25)


@pytest.mark.slow
def test_head_turn_with_the_eyes_fixed_moves_the_eye_in_head_gaze_little(tmp_path):
    """Yaw from -30 to +30 degrees, gaze fixed in the head (the astronaut, rendered).

    'Moves by' is the least-squares trend of the mean of both eyes across the turn
    (slope times 60 degrees), so that FaceMesh's per-pose iris error (about 0.02
    eye widths) does not count as motion.
    """
    yaws = np.arange(-30, 31, 5)
    hold = 5
    sched = pd.DataFrame({"yaw": np.repeat(yaws, hold).astype(float)})
    render_face_video(tmp_path / "turn.mp4", sched, fps=25, background=3, reproducible=True)
    track = track_video(tmp_path / "turn.mp4", crop_rate=0).frames
    assert track["face"].all()
    per_pose = track.groupby(np.arange(len(track)) // hold).median().iloc[:, :]
    image_x = (per_pose.pupil_left_x + per_pose.pupil_right_x) / 2
    head_x = (per_pose.gaze_head_left_x + per_pose.gaze_head_right_x) / 2
    image_move = np.polyfit(yaws, image_x, 1)[0] * 60
    head_move = np.polyfit(yaws, head_x, 1)[0] * 60
    assert abs(head_move) <= 0.02, (head_move, image_move)
    assert abs(image_move) >= 0.03, image_move  # the image-axes pupil does move
    assert np.corrcoef(per_pose.yaw, yaws)[0, 1] > 0.99


def _two_faces(seconds: float, fps: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The astronaut (the patient, image left) and, from 2 s, Grace Hopper (image right).

    The patient is blacked out from 4 to 5 s, while the other face stays in view.
    Returns the frames, their times and the hidden mask.
    """
    patient, other = FaceRenderer("astronaut"), FaceRenderer("grace_hopper")
    t = np.arange(int(seconds * fps)) / fps
    hidden = (t >= 4) & (t < 5)
    frames = []
    for ti, hide in zip(t, hidden):
        img, _ = patient.render(yaw=12 * np.sin(2 * np.pi * 0.3 * ti), frame_size=(640, 360), face_width=0.2,
                                center=(0.28, 0.5), background=3)
        if hide:
            img[:, :320] = 0
        if ti >= 2:
            img, _ = other.render(yaw=-10 * np.sin(2 * np.pi * 0.4 * ti), frame_size=(640, 360), face_width=0.24,
                                  center=(0.74, 0.5), background=img)
        frames.append(img)
    return frames, t, hidden


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    path = tmp_path_factory.mktemp("two") / "two.mp4"
    frames, t, hidden = _two_faces(8.0, 25)
    write_video(path, frames, 25, reproducible=True)
    return path, t, hidden


@pytest.mark.slow
def test_the_track_stays_on_the_patient_when_another_face_is_in_view(two_faces):
    path, t, hidden = two_faces
    ft = track_video(path, crop_rate=0)
    tr = ft.frames
    assert (tr.loc[tr.face, "face_x"] < 0.5).all()  # never on the other face (at x = 0.74)
    assert not tr.loc[hidden, "face"].any()  # while the patient is hidden the track stays lost
    assert tr.loc[(t >= 5.5), "face"].mean() > 0.95  # and takes the patient back
    assert ft.face_switches == 0 and ft.n_faces_max == 2
    assert tr.loc[tr.face, "face_scale"].between(0.15, 0.35).all()


@pytest.mark.slow
def test_without_the_identity_check_the_track_would_move_to_the_other_face(two_faces):
    """The check is what keeps the track off the other face (the test above can fail)."""
    import cdr.face.track as tracking

    path, t, hidden = two_faces
    with tracking.quiet_mediapipe(), tracking.FaceTracker(face="auto", identity_max_distance=np.inf) as tracker:
        ft = tracking.track_frames(tracking.io.iter_video(path), crop_rate=0, tracker=tracker)
    tr = ft.frames
    assert (tr.loc[tr.face & hidden, "face_x"] > 0.5).any() and ft.face_switches >= 1


@pytest.mark.slow
@pytest.mark.parametrize("rule, side", [("left", "patient"), ("right", "other"), ("largest", "other")])
def test_face_rules_pick_by_place_and_size(two_faces, rule, side, tmp_path):
    path, t, _ = two_faces
    cut = (t >= 2.5) & (t < 4)  # both faces in view all the time
    frames = [f for f, keep in zip(_two_faces(4.0, 25)[0], cut) if keep]
    write_video(tmp_path / "both.mp4", frames, 25, reproducible=True)
    tr = track_video(tmp_path / "both.mp4", crop_rate=0, face=rule).frames
    x = tr.loc[tr.face, "face_x"]
    assert len(x) >= 35 and ((x < 0.5).all() if side == "patient" else (x > 0.5).all())
