"""Synthetic cohort: planted effects, null cohort, class independence, determinism, decodable output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cdr import io
from cdr.errors import ParameterError
from cdr.synth.cohort import MARKERS, CohortConfig, describe, draw_plan, generate_cohort
from cdr.synth.video import read_truth

NUISANCE = ["photo", "mirror", "colour_r", "aspect_x", "voice", "interviewer_voice", "pitch", "fps", "duration_s",
            "width", "height", "face_width", "center_x", "background_seed", "yaw_sd", "blinks_per_min", "seed"]


def test_default_cohort_is_the_study_split():
    plan = draw_plan(CohortConfig())
    assert len(plan) == 40
    assert plan.groupby("cdr").size().to_dict() == {0.5: 17, 1.0: 19, 2.0: 4}
    assert set(plan["fps"]) <= {25.0, 30.0} and plan["duration_s"].between(30, 60).all()
    assert plan["video_id"].is_unique
    # classes are shuffled, not in blocks
    assert plan["cdr"].iloc[:17].nunique() > 1


def test_planted_effects_move_class_means_in_the_stated_direction():
    big = dict(n_per_class=((0.5, 150), (1.0, 150), (2.0, 150)))
    planted = draw_plan(CohortConfig(effects=tuple((m, 2.0) for m in MARKERS), **big))
    null = draw_plan(CohortConfig.null(**big))
    for m, (_, _, _, sign, scale, _) in MARKERS.items():
        f = np.arctanh if scale == "atanh" else np.log
        lat = planted.groupby("cdr")[m].apply(lambda s: f(s).mean())
        spread = MARKERS[m].spread
        # d = 2 between CDR 2 and CDR 0.5 on the latent scale, CDR 1 halfway
        assert sign * (lat[2.0] - lat[0.5]) / spread == pytest.approx(2.0, abs=0.35)
        assert sign * (lat[1.0] - lat[0.5]) / spread == pytest.approx(1.0, abs=0.35)
        lat0 = null.groupby("cdr")[m].apply(lambda s: f(s).mean())
        assert abs(lat0[2.0] - lat0[0.5]) / spread < 0.35



def test_a_negative_effect_reverses_the_stated_direction():
    config = CohortConfig(effects=(("eye_range", -6.0), ("pauses", 2.0)), seed=2)
    effects = describe(config, draw_plan(config))["effects"]
    assert MARKERS["eye_range"].sign < 0 and effects["eye_range"]["direction"] == "increases with CDR"
    assert MARKERS["pauses"].sign > 0 and effects["pauses"]["direction"] == "increases with CDR"
    medians = [effects["eye_range"]["class_medians"][c] for c in ("0.5", "1.0", "2.0")]
    assert medians == pytest.approx([0.07, 0.07 * np.exp(0.75), 0.07 * np.exp(1.5)])

def test_nuisance_draws_do_not_depend_on_class_effects():
    # Same seed, null vs planted: everything but the markers is identical, so the effects cannot
    # leak into identity, voice, background, size, rate or length.
    a = draw_plan(CohortConfig(seed=3))
    b = draw_plan(CohortConfig.null(seed=3))
    pd.testing.assert_frame_equal(a[NUISANCE + ["cdr", "video_id"]], b[NUISANCE + ["cdr", "video_id"]])
    assert not np.allclose(a["latency"], b["latency"])


def test_plan_is_deterministic_for_a_seed():
    pd.testing.assert_frame_equal(draw_plan(CohortConfig(seed=5)), draw_plan(CohortConfig(seed=5)))
    assert not draw_plan(CohortConfig(seed=5))["seed"].equals(draw_plan(CohortConfig(seed=6))["seed"])


@pytest.mark.parametrize("bad", [dict(effects=(("charisma", 1.0),)), dict(n_per_class=((3.0, 2),)),
                                 dict(duration_s=(5.0, 2.0)), dict(videos_per_subject=0)])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ParameterError):
        draw_plan(CohortConfig(**bad))


TINY = dict(n_per_class=((0.5, 1), (1.0, 1), (2.0, 1)), duration_s=(2.0, 3.0), face_width=(0.25, 0.3))


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    return generate_cohort(out, CohortConfig.null(**TINY, seed=11))


@pytest.mark.slow
def test_generated_videos_decode_with_stated_rate_size_length_and_audio(tiny_cohort):
    plan = pd.read_csv(tiny_cohort / "planted.csv")
    labels = pd.read_csv(tiny_cohort / "labels.csv")
    assert list(labels.columns) == ["video_id", "cdr", "subject_id"]
    assert sorted(labels["cdr"]) == [0.5, 1.0, 2.0]
    recs = io.list_inputs(tiny_cohort / "videos")
    assert [r.video_id for r in recs] == sorted(plan["video_id"])
    for row in plan.itertuples():
        path = tiny_cohort / "videos" / f"{row.video_id}.mp4"
        info = io.probe(path)
        assert (info.width, info.height) == (row.width, row.height) and info.fps == pytest.approx(row.fps)
        times = [t for t, _ in io.iter_frames(path, stride=5)]
        n = int(round(row.duration_s * row.fps))
        assert times[-1] == pytest.approx(((n - 1) // 5 * 5) / row.fps, abs=1e-3)
        y = io.read_audio(path)
        assert abs(len(y) / 16000 - row.duration_s) < 0.15
        speech = pd.read_csv(tiny_cohort / "videos" / f"{row.video_id}.speech.csv")
        first = speech.iloc[0]
        i0, i1 = int(first.start_s * 16000), int(first.end_s * 16000)
        # speech where the table says, near-silence before it
        assert np.sqrt(np.mean(y[i0:i1] ** 2)) > 20 * np.sqrt(np.mean(y[: max(i0 - 800, 1)] ** 2) + 1e-12)
        truth = read_truth(path)
        assert len(truth) == n
        np.testing.assert_allclose(truth["t"], np.arange(n) / row.fps)


@pytest.mark.slow
def test_null_cohort_json_states_zero_effects_and_is_labelled_synthetic(tiny_cohort):
    meta = json.loads((tiny_cohort / "cohort.json").read_text())
    assert meta["synthetic"] is True and meta["null_cohort"] is True and meta["complete"] is True
    assert set(meta["effects"]) == set(MARKERS)
    for m, e in meta["effects"].items():
        assert e["effect_size_d"] == 0 and e["direction"] == "none"
        assert len(set(e["class_medians"].values())) == 1
    assert meta["real_identities"] == ["astronaut"]
    assert "SYNTHETIC" in (tiny_cohort / "README.txt").read_text()
    assert io.probe(tiny_cohort / "videos" / "s01.mp4")  # readable
    import av

    with av.open(str(tiny_cohort / "videos" / "s01.mp4")) as c:
        assert "SYNTHETIC" in c.metadata.get("comment", "")


@pytest.mark.slow
def test_generation_is_deterministic_and_cached(tiny_cohort, tmp_path):
    again = generate_cohort(tmp_path / "again", CohortConfig.null(**TINY, seed=11))
    for name in ("labels.csv", "planted.csv"):
        assert (again / name).read_bytes() == (tiny_cohort / name).read_bytes()
    for vid in pd.read_csv(again / "labels.csv")["video_id"]:
        a, b = again / "videos" / f"{vid}.mp4", tiny_cohort / "videos" / f"{vid}.mp4"
        pd.testing.assert_frame_equal(read_truth(a), read_truth(b))
        # The plan, truth and speech are exact. Pixels are compared after decoding: on a busy
        # machine a few videos have been seen to differ by up to 2 grey levels between two
        # runs with the same seed (cause not found), so the bytes of the mp4 are not compared.
        fa = np.stack([f for _, f in io.iter_frames(a)]).astype(int)
        fb = np.stack([f for _, f in io.iter_frames(b)]).astype(int)
        assert fa.shape == fb.shape and np.abs(fa - fb).max() <= 3 and np.abs(fa - fb).mean() < 0.5
        np.testing.assert_allclose(io.read_audio(a), io.read_audio(b), atol=1e-3)
    # cached: a second call rewrites nothing
    stamp = (again / "videos" / "s01.mp4").stat().st_mtime_ns
    generate_cohort(again, CohortConfig.null(**TINY, seed=11))
    assert (again / "videos" / "s01.mp4").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_another_config_in_the_same_folder_replaces_the_videos(tmp_path):
    small = dict(n_per_class=((0.5, 1),), duration_s=(1.0, 1.0), face_width=(0.25, 0.3))
    generate_cohort(tmp_path, CohortConfig.null(**small, seed=1))
    first = read_truth(tmp_path / "videos" / "s01.mp4")
    generate_cohort(tmp_path, CohortConfig.null(**small, seed=2))
    second = read_truth(tmp_path / "videos" / "s01.mp4")
    assert not np.allclose(first["yaw"].to_numpy()[:5], second["yaw"].to_numpy()[:5])
    assert json.loads((tmp_path / "cohort.json").read_text())["config"]["seed"] == 2
