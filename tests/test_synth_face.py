"""The face renderer: contract signs on the planted truth, identity render, gaze, blink, smile."""

from __future__ import annotations

import numpy as np
import pytest

from cdr.errors import ParameterError
from cdr.synth.face import FaceRenderer, make_background


@pytest.fixture(scope="module")
def renderer() -> FaceRenderer:
    return FaceRenderer()


def test_identity_render_reproduces_the_photograph(renderer):
    # Scale 1, head centre on its own pixel, zero pose: the frame is the photograph where opaque.
    h, w = renderer.photo.shape[:2]
    img, truth = renderer.render(
        frame_size=(w, h), face_width=renderer.face_width_src / w,
        center=(renderer.centre[0] / w, renderer.centre[1] / h), background=(0, 0, 0),
    )
    alpha = renderer._alpha > 254
    diff = np.abs(img.astype(int) - renderer.photo.astype(int))[alpha]
    assert alpha.sum() > 5000
    assert diff.mean() < 1.5
    np.testing.assert_allclose([truth["nose_x"], truth["nose_y"]], renderer.landmarks[1, :2], atol=1e-6)
    # Outside the head the background is untouched.
    assert img[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("angle", [10.0, 25.0])
def test_pose_signs_follow_the_contract(renderer, angle):
    _, t0 = renderer.render()
    _, ty = renderer.render(yaw=angle)
    assert ty["nose_x"] - t0["nose_x"] > 5  # yaw > 0: nose toward the image's right
    _, ty = renderer.render(yaw=-angle)
    assert ty["nose_x"] - t0["nose_x"] < -5
    _, tp = renderer.render(pitch=angle)
    assert tp["nose_y"] - t0["nose_y"] < -5  # pitch > 0: nose up
    _, tr = renderer.render(roll=angle)
    # roll > 0: clockwise in the image, so the eye line slopes down to the right
    slope = np.degrees(np.arctan2(tr["eye_right_y"] - tr["eye_left_y"], tr["eye_right_x"] - tr["eye_left_x"]))
    slope0 = np.degrees(np.arctan2(t0["eye_right_y"] - t0["eye_left_y"], t0["eye_right_x"] - t0["eye_left_x"]))
    assert slope - slope0 == pytest.approx(angle, abs=0.5)
    assert tr["yaw"] == 0 and tr["roll"] == angle


def test_rotation_matches_the_pose_decomposition(renderer):
    from scipy.spatial.transform import Rotation

    r = renderer.rotation(12.0, -7.0, 5.0)
    roll, neg_pitch, neg_yaw = Rotation.from_matrix(r).as_euler("ZXY", degrees=True)
    assert (-neg_yaw, -neg_pitch, roll) == pytest.approx((12.0, -7.0, 5.0))
    nose, top = np.array([0, 0, -1.0]), np.array([0, -1.0, 0])  # toward the camera; up
    assert (renderer.rotation(10, 0, 0) @ nose)[0] > 0  # yaw: nose to the image's right
    assert (renderer.rotation(0, 10, 0) @ nose)[1] < 0  # pitch: nose up
    assert (renderer.rotation(0, 0, 10) @ top)[0] > 0  # roll: top of the head to the right


def test_left_eye_is_the_one_on_the_image_left(renderer):
    _, t = renderer.render()
    assert t["eye_left_x"] < t["nose_x"] < t["eye_right_x"]
    assert t["iris_left_x"] < t["iris_right_x"]


def test_gaze_moves_the_iris_by_the_planted_eye_widths(renderer):
    _, t0 = renderer.render()
    img_r, t = renderer.render(gaze=(0.2, 0.0))
    for side in ("left", "right"):
        assert t[f"pupil_{side}_x"] - t0[f"pupil_{side}_x"] == pytest.approx(0.2, abs=0.02)
        assert t[f"pupil_{side}_y"] == pytest.approx(t0[f"pupil_{side}_y"], abs=0.01)
    # The pixels move too: the dark iris mass shifts right inside the left eye.
    img0, _ = renderer.render()

    def dark_centroid(img):
        x0, x1 = int(t0["eye_left_x"] - 20), int(t0["eye_left_x"] + 20)
        y0, y1 = int(t0["eye_left_y"] - 8), int(t0["eye_left_y"] + 8)
        patch = 255 - img[y0:y1, x0:x1].astype(float).mean(2)
        patch = np.clip(patch - np.percentile(patch, 70), 0, None)
        return (patch.sum(0) * np.arange(x1 - x0)).sum() / patch.sum()

    assert dark_centroid(img_r) - dark_centroid(img0) > 2.0


def test_blink_closes_the_eyes(renderer):
    _, t0 = renderer.render()
    _, t1 = renderer.render(blink=1.0)
    assert 0.2 < t0["ear_left"] < 0.5 and 0.2 < t0["ear_right"] < 0.5
    assert t1["ear_left"] < 0.06 and t1["ear_right"] < 0.06
    img0, _ = renderer.render()
    img1, _ = renderer.render(blink=1.0)
    x, y = int(t0["iris_left_x"]), int(t0["iris_left_y"])
    # the dark iris is covered by (lighter) eyelid skin
    assert img1[y - 2 : y + 3, x - 2 : x + 3].mean() > img0[y - 2 : y + 3, x - 2 : x + 3].mean() + 20


def test_smile_raises_and_widens_the_mouth_corners(renderer):
    lm0 = renderer.landmarks_2d()
    lm1 = renderer.landmarks_2d(smile=1.0)
    width0, width1 = lm0[291, 0] - lm0[61, 0], lm1[291, 0] - lm1[61, 0]
    assert width1 > width0 * 1.15
    assert lm1[61, 1] < lm0[61, 1] - 5 and lm1[291, 1] < lm0[291, 1] - 5
    # the nose does not move
    np.testing.assert_allclose(lm1[1], lm0[1], atol=0.5)


def test_face_width_and_position(renderer):
    _, t = renderer.render(frame_size=(640, 480), face_width=0.125, center=(0.25, 0.7))
    lm = renderer.landmarks_2d(frame_size=(640, 480), face_width=0.125, center=(0.25, 0.7))
    assert lm[454, 0] - lm[234, 0] == pytest.approx(80, rel=0.01)
    assert abs(lm[:468, 0].mean() - 160) < 2 and abs(lm[:468, 1].mean() - 336) < 2


def test_background_is_seeded_and_shaped():
    a, b = make_background((64, 48), 1), make_background((64, 48), 1)
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, make_background((64, 48), 2))


@pytest.mark.parametrize("kwargs", [dict(face_width=0.0), dict(frame_size=(8, 8)), dict(background=np.zeros((5, 5, 3)))])
def test_bad_parameters_are_refused(renderer, kwargs):
    with pytest.raises(ParameterError):
        renderer.render(**kwargs)
