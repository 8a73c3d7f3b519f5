"""Synthetic interview audio and motion schedules carry their planted parameters."""

from __future__ import annotations

import numpy as np
import pytest

from cdr.synth import schedule as S
from cdr.synth.speech import SR, SpeakerStyle, interview_audio


def _style(**kw):
    base = dict(voice="en-us+m3", pitch=50.0, pitch_sd=8.0, rate_wpm=170.0, latency_s=0.7, pause_s=0.45)
    return SpeakerStyle(**{**base, **kw})


def _interview(seed=0, duration=40.0, **kw):
    return interview_audio(duration, _style(**kw), "en-gb+f2", np.random.default_rng(seed))


def test_planted_gaps_are_silent_and_exact():
    y, seg = _interview(latency_s=1.5, pause_s=0.8)
    assert len(y) == 40 * SR
    env = np.sqrt(np.convolve(y**2, np.ones(160) / 160, mode="same"))
    patient = seg[seg.speaker == "patient"]
    assert len(patient) >= 5
    for row in patient.itertuples():
        gap = row.gap_before_s
        i1 = int(row.start_s * SR)
        i0 = i1 - int(gap * SR)
        # silence (background hiss only) over the planted gap, speech right after it
        assert env[i0 + 200 : i1 - 200].max() < 0.01
        assert env[i1 : i1 + int(0.3 * SR)].max() > 0.05
    # the previous segment ends exactly where the gap starts
    starts, ends = seg["start_s"].to_numpy(), seg["end_s"].to_numpy()
    p = np.flatnonzero(seg["speaker"].to_numpy() == "patient")
    np.testing.assert_allclose(starts[p] - ends[p - 1], seg["gap_before_s"].to_numpy()[p], atol=2 / SR)


@pytest.mark.slow
def test_latency_and_pauses_follow_the_speaker_style():
    _, slow = _interview(seed=1, duration=120, latency_s=2.0, pause_s=1.2)
    _, fast = _interview(seed=1, duration=120, latency_s=0.5, pause_s=0.3)

    def stats(seg):
        p = seg[seg.speaker == "patient"]
        after_question = seg.speaker.shift() == "interviewer"
        return p.gap_before_s[after_question[p.index]].mean(), p.gap_before_s[~after_question[p.index]].mean()

    lat_s, pause_s = stats(slow)
    lat_f, pause_f = stats(fast)
    assert lat_s == pytest.approx(2.0, rel=0.35) and lat_f == pytest.approx(0.5, rel=0.35)
    assert pause_s == pytest.approx(1.2, rel=0.35) and pause_f == pytest.approx(0.3, rel=0.35)


def test_speaking_rate_changes_phrase_durations():
    _, slow = _interview(seed=2, rate_wpm=120)
    _, fast = _interview(seed=2, rate_wpm=220)
    # same seed -> same phrases in the same order
    s = slow[slow.speaker == "patient"].head(4)
    f = fast[fast.speaker == "patient"].head(4)
    assert list(s.text) == list(f.text)
    ratio = ((s.end_s - s.start_s).sum()) / ((f.end_s - f.start_s).sum())
    assert 1.4 < ratio < 2.2  # 220/120 = 1.83


def test_interview_is_deterministic_for_a_seed():
    a, sa = _interview(seed=4, duration=10)
    b, sb = _interview(seed=4, duration=10)
    assert np.array_equal(a, b) and sa.equals(sb)


def test_schedule_realises_coupling_range_and_blink_rate():
    p = dict(yaw_sd=5.0, pitch_sd=4.0, roll_sd=2.0, eye_range=0.08, coupling=0.6, expressivity=1.0,
             blinks_per_min=15.0, face_width=0.3, center_x=0.5, center_y=0.5)
    fps, n = 25.0, 25 * 600
    sch = S.face_schedule(p, n, fps, np.random.default_rng(0))
    assert np.corrcoef(sch.pitch, sch.gaze_y)[0, 1] == pytest.approx(0.6, abs=0.08)
    assert sch.gaze_x.std() == pytest.approx(0.08, rel=0.2)
    onsets = np.flatnonzero((sch.blink.to_numpy()[1:] > 0.5) & (sch.blink.to_numpy()[:-1] <= 0.5))
    assert len(onsets) / 10 == pytest.approx(15, rel=0.2)  # per minute over 10 minutes
    sch0 = S.face_schedule({**p, "coupling": 0.0, "expressivity": 0.3}, n, fps, np.random.default_rng(0))
    assert abs(np.corrcoef(sch0.pitch, sch0.gaze_y)[0, 1]) < 0.1
    assert sch0.smile.mean() < 0.5 * sch.smile.mean()
