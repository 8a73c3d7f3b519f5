"""Speaker turns: the ``turns.`` group, RTTM files, diarization and who the patient is."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conversation import SR, interview, patient_answers, true_share
from scipy.io import wavfile

from cdr.features.speech import SPEECH_NAMES, patient_speech
from cdr.features.turns import NAMES, turns_features
from cdr.speakers.rttm import TurnsFileError, format_rttm, read_rttm

F0_MEAN = "gemaps.F0semitoneFrom27.5Hz_sma3nz_amean"


def _turns(rows):
    return pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"])


# --- the turns. group on known turns -----------------------------------------------------------

def test_turns_features_on_known_turns():
    t = _turns([(0, 2, "interviewer"), (3.1, 6, "patient"), (4.0, 4.5, "interviewer"),  # a back-channel
                (7, 9, "interviewer"), (10.0, 14, "patient"), (13.5, 15, "interviewer"),  # an interruption
                (16.2, 18, "patient")])
    s = turns_features(t)
    assert list(s.index) == NAMES
    union = 2 + 2.9 + 2 + 5 + 1.8
    assert s["turns.patient_share"] == pytest.approx(8.7 / union, abs=1e-3)
    assert s["turns.response_latency_median_s"] == pytest.approx(1.1, abs=1e-6)
    assert s["turns.response_latency_mean_s"] == pytest.approx(1.1, abs=1e-6)
    assert s["turns.response_latency_iqr_s"] == pytest.approx(0.1, abs=1e-6)
    assert s["turns.turns_per_min"] == pytest.approx(6 / 0.3)  # the back-channel is not a turn
    assert s["turns.patient_turn_median_s"] == pytest.approx(2.9)
    assert s["turns.overlap_ratio"] == pytest.approx(1.0 / union, abs=1e-3)
    assert s["turns.interruptions_per_min"] == pytest.approx(1 / 0.3)


def test_one_speaker_has_share_one_and_no_latency():
    with pytest.warns(UserWarning, match="only one speaker"):
        s = turns_features(_turns([(0.5, 3, "patient"), (4, 6, "patient")]))
    assert s["turns.patient_share"] == 1.0
    assert s[["turns.response_latency_median_s", "turns.response_latency_mean_s",
              "turns.response_latency_iqr_s"]].isna().all()
    assert s["turns.overlap_ratio"] == 0.0


def test_no_patient_is_nan_with_a_warning():
    with pytest.warns(UserWarning, match="no patient speech"):
        s = turns_features(_turns([(0, 2, "interviewer")]))
    assert s.isna().all()


# --- RTTM ---------------------------------------------------------------------------------------

def test_rttm_round_trip(tmp_path):
    t = _turns([(0.25, 1.5, "interviewer"), (2.0, 4.125, "patient")])
    path = tmp_path / "rec 1.rttm"
    path.write_text(";; a comment\n\n" + format_rttm(t, "rec 1"))
    assert path.read_text().splitlines()[2] == "SPEAKER rec_1 1 0.250 1.250 <NA> <NA> interviewer <NA> <NA>"
    back = read_rttm(path, duration_s=5.0)
    pd.testing.assert_frame_equal(back, t, check_dtype=False)


@pytest.mark.parametrize("line, match", [
    ("SPEAKER r 1 1.0 2.0 <NA> <NA> patient", "8 fields"),
    ("SPEAKER r 1 x 2.0 <NA> <NA> patient <NA> <NA>", "not a number"),
    ("SPEAKER r 1 1.0 -2.0 <NA> <NA> patient <NA> <NA>", "duration > 0"),
    ("SPEAKER r 1 1.0 2.0 <NA> <NA> doctor <NA> <NA>", "speaker 'doctor' is unknown"),
    ("SPEAKER r 1 9.0 2.0 <NA> <NA> patient <NA> <NA>", "after the recording"),
    ("patient 1.0 2.0", "not an RTTM record"),
])
def test_bad_turns_file_names_file_and_line(tmp_path, line, match):
    path = tmp_path / "r.rttm"
    path.write_text("SPEAKER r 1 0.0 1.0 <NA> <NA> interviewer <NA> <NA>\n" + line + "\n")
    with pytest.raises(TurnsFileError, match=match) as err:
        read_rttm(path, duration_s=10.0)
    msg = str(err.value)
    assert msg.startswith(f"{path}:2: ") and "\n" not in msg


# --- diarization and the patient's own features --------------------------------------------------

@pytest.fixture(scope="module")
def versions(arctic_audio):
    """The same (male) patient answers alone, with a female interviewer and with a male one.

    The male interviewer is the real recorded CMU Arctic speaker (awb), asking his one
    sentence every time: espeak-ng's male variants are one voice to a speaker encoder
    (centroid cosine distance 0.05-0.12, as close as one voice's own windows).
    """
    answers = patient_answers("en-gb+m1")
    out = {}
    for name, voice in (("female", "en-us+f2"), ("male", arctic_audio[0])):
        out[name] = interview(answers, voice)
    out["alone"] = interview(answers, None, question_s=2.0)
    return out


@pytest.fixture(scope="module")
def measured(versions):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: patient_speech(y, SR, source=k) for k, (y, _) in versions.items()}


@pytest.mark.slow
def test_interviewer_no_longer_moves_the_patient(versions, measured):
    for name in ("female", "male"):
        share = 1 - true_share(versions[name][1])
        assert 0.30 <= share <= 0.45, (name, share)  # the interviewer holds 30-45 % of the speech
    f0 = {k: r.values[F0_MEAN] for k, r in measured.items()}
    assert max(f0.values()) - min(f0.values()) <= 1.0, f0
    for name, (_, truth) in versions.items():
        v = measured[name].values
        assert abs(v["turns.patient_share"] - true_share(truth)) <= 0.12, (name, v["turns.patient_share"])
        if name != "alone":
            assert v["qc.n_speakers"] == 2
            assert abs(v["turns.response_latency_median_s"] - 1.1) <= 0.3, (name, v["turns.response_latency_median_s"])
    assert measured["alone"].values["qc.n_speakers"] == 1
    assert np.isnan(measured["alone"].values["turns.response_latency_median_s"])


@pytest.mark.slow
def test_user_turns_replace_the_automatic_ones(versions):
    y, truth = versions["female"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = patient_speech(y, SR, turns=truth)
    assert r.values["qc.patient_attribution"] == 2
    assert r.values["turns.response_latency_median_s"] == pytest.approx(1.1, abs=0.02)
    assert r.values["turns.patient_share"] == pytest.approx(true_share(truth), abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("rate, channels", [(8000, 1), (8000, 2), (48000, 1), (48000, 2)])
def test_rates_and_channels_give_the_same_turns(versions, measured, rate, channels):
    import soxr

    y16, truth = versions["female"]
    y = soxr.resample(y16, SR, rate).astype(np.float32)
    if channels == 2:
        y = np.stack([y, 0.8 * y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = patient_speech(y, rate).values
    assert v["qc.n_speakers"] == 2
    assert abs(v["turns.patient_share"] - true_share(truth)) <= 0.12
    assert abs(v["turns.response_latency_median_s"] - 1.1) <= 0.35


def test_silence_has_no_speaker():
    with pytest.warns(UserWarning, match="silent"):
        v = patient_speech(np.zeros(3 * SR, np.float32), SR).values
    assert list(v.index) == SPEECH_NAMES
    assert v["qc.n_speakers"] == 0 and v["qc.patient_speech_s"] == 0
    assert v[NAMES].isna().all() and np.isnan(v["qc.patient_attribution"])


# --- cdr-extract --turns --------------------------------------------------------------------------

@pytest.mark.slow
def test_extract_with_turns_files(versions, tmp_path):
    from cdr.table import extract_folder

    y, truth = versions["female"]
    rec, turns, out = tmp_path / "rec", tmp_path / "turns", tmp_path / "out"
    rec.mkdir(), turns.mkdir()
    for vid in ("good", "bad", "auto"):
        wavfile.write(rec / f"{vid}.wav", SR, (y * 32767).astype(np.int16))
    (turns / "good.rttm").write_text(format_rttm(truth, "good"))
    (turns / "bad.rttm").write_text(format_rttm(truth, "bad") + "SPEAKER bad 1 3.0 1.0 <NA> <NA> nurse <NA> <NA>\n")
    s = extract_folder(rec, out, turns=turns, keep_tracks=True, progress=False)
    assert list(s.failures["video_id"]) == ["bad"]
    fail = s.failures.iloc[0]
    assert fail["stage"] == "turns" and f"bad.rttm:{len(truth) + 1}:" in fail["error"] and "nurse" in fail["error"]
    table = pd.read_parquet(out / "features.parquet")
    assert table.loc["good", "qc.patient_attribution"] == 2 and table.loc["auto", "qc.patient_attribution"] == 0
    written = read_rttm(out / "turns" / "auto.rttm", speakers=None)
    assert set(written["speaker"]) == {"patient", "interviewer"}
    assert read_rttm(out / "turns" / "good.rttm").shape == truth.shape


# --- the mouth decides ----------------------------------------------------------------------------

@pytest.mark.slow
def test_mouth_picks_the_patient_who_speaks_less(tmp_path):
    """A video whose (off-camera) interviewer holds 65 % of the speech: the face's jaw, moving
    with the patient's own speech, names the patient although they speak less."""
    from conversation import say

    from cdr.extract import extract_rows
    from cdr.synth.schedule import jaw_with_speech
    from cdr.synth.video import render_face_video

    fps, long_q = 25.0, "Can you tell me what you did yesterday morning after your breakfast?"
    answers = [[say(p, "en-us+f2")] for p in ("I went for a walk in the park", "we had some tea in the garden", "my son came over for lunch",
                                                "I read the paper in the afternoon")]
    y, truth = _with_questions(answers, say(long_q, "en-gb+m1"), fps)
    share = true_share(truth)
    assert abs(share - 0.35) < 0.05, share
    n = int(np.ceil(y.size / SR * fps))
    sched = pd.DataFrame({"yaw": np.zeros(n), "expr_jaw": jaw_with_speech(truth, n, fps)})
    path = tmp_path / "interview.mp4"
    render_face_video(path, sched, fps=fps, frame_size=(320, 240), face_width=0.45, audio=y, threads=1)
    ex = extract_rows(path, "interview")
    row = ex.rows.iloc[0]
    assert row["qc.patient_attribution"] == 1
    assert abs(row["turns.patient_share"] - share) <= 0.12
    assert ex.track["mouth_open"].max() - ex.track["mouth_open"].min() > 0.1  # the jaw opened and closed
    # cdr-predict's way: the face tracked in a process of its own, every speaker measured
    # beforehand, the mouth's choice then looked up: the same row and the same warnings.
    from cdr.tracking import start_tracking

    apart = extract_rows(path, "interview", tracking=start_tracking(path))
    pd.testing.assert_frame_equal(apart.rows, ex.rows)
    assert apart.warnings == ex.warnings


def _with_questions(answers, q, fps):
    parts, rows, t = [np.zeros(int(0.5 * SR), np.float32)], [], 0.5
    for (a,) in answers:
        parts += [q, np.zeros(int(0.8 * SR), np.float32), a, np.zeros(int(0.6 * SR), np.float32)]
        rows += [(t, t + q.size / SR, "interviewer"), (t + q.size / SR + 0.8, t + q.size / SR + 0.8 + a.size / SR,
                                                       "patient")]
        t += q.size / SR + 0.8 + a.size / SR + 0.6
    y = np.concatenate(parts)
    y = y + (1e-3 * np.random.default_rng(0).standard_normal(y.size)).astype(np.float32)
    return y.astype(np.float32), pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"])


def test_demo_jaw_moves_only_with_the_patients_speech():
    from cdr.synth.schedule import jaw_with_speech

    seg = _turns([(0.5, 2.0, "interviewer"), (3.0, 4.0, "patient")])
    jaw = jaw_with_speech(seg, 125, 25.0)
    t = np.arange(125) / 25.0
    assert (jaw[(t < 3.0) | (t >= 4.0)] == 0).all()
    assert jaw[(t >= 3.0) & (t < 4.0)].max() > 0.6


def test_attribution_by_mouth_and_by_speech_time():
    from cdr.speakers.patient import BY_MOUTH, BY_SPEECH, attribute

    raw = _turns([(0, 6, "spk0"), (7, 9, "spk1"), (10, 16, "spk0"), (17, 19.5, "spk1")])
    t = np.arange(0, 20, 0.04)
    speaking = ((t >= 7) & (t < 9)) | ((t >= 17) & (t < 19.5))
    mouth = 0.1 + 0.15 * speaking * (0.5 - 0.5 * np.cos(2 * np.pi * 4 * t))  # opens with spk1's voice
    track = pd.DataFrame({"t": t, "face": True, "mouth_open": mouth})
    named, method = attribute(raw, track)
    assert method == BY_MOUTH
    assert set(named.loc[named["speaker"] == "patient", "start_s"]) == {7, 17}
    still = track.assign(mouth_open=0.1)  # a face whose mouth never moves: no evidence
    named, method = attribute(raw, still)
    assert method == BY_SPEECH and set(named.loc[named["speaker"] == "patient", "start_s"]) == {0, 10}


def test_a_patient_that_cannot_be_told_apart_is_one_warning():
    from cdr.speakers.patient import attribute

    raw = _turns([(0, 5, "spk0"), (6, 10.5, "spk1")])
    with pytest.warns(UserWarning, match="cannot be told apart") as rec:
        attribute(raw, None, source="x.wav")
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
