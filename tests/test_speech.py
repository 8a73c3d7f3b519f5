"""Speech features on real (CMU Arctic) and planted (espeak-ng + known silences) speech."""

from __future__ import annotations

import sys
import time
import warnings

import librosa
import numpy as np
import pandas as pd
import pytest
import soxr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdr.errors import CdrError, ParameterError
from cdr.features import gemaps, mfcc, voice
from cdr.features.speech import GROUP_NAMES, SPEECH_NAMES, speech_features
from cdr.resources import arctic_wav, speak

SR = 16000
F0_MEAN = "gemaps.F0semitoneFrom27.5Hz_sma3nz_amean"
SENTENCES = [  # 10 + 8 + 9 + 11 + 11 = 49 syllables, no punctuation (so no pause inside)
    "The old man walked slowly to the market",
    "She bought fresh bread and sweet apples",
    "Then he went home to cook his dinner",
    "The children played happily in the garden",
    "Nobody knew where the little dog had gone",
]
SYLLABLES = 49
GAPS_S = [0.6, 1.0, 1.5, 2.0]
EDGE_S = 0.5


def _trim(y: np.ndarray) -> np.ndarray:
    """Cut espeak-ng's digital lead-in and tail silence (|y| <= 1e-4) so planted gaps are exact."""
    nz = np.flatnonzero(np.abs(y) > 1e-4)
    return y[nz[0] : nz[-1] + 1]


@pytest.fixture(scope="module")
def planted() -> dict:
    """Five espeak-ng sentences joined by silences of 0.6, 1.0, 1.5 and 2.0 s, with 0.5 s at each end."""
    sentences = [_trim(speak(s, sr=SR)) for s in SENTENCES]
    parts = [np.zeros(int(EDGE_S * SR), np.float32)]
    for i, s in enumerate(sentences):
        parts.append(s)
        if i < len(GAPS_S):
            parts.append(np.zeros(int(round(GAPS_S[i] * SR)), np.float32))
    parts.append(np.zeros(int(EDGE_S * SR), np.float32))
    y = np.concatenate(parts)
    speech_s = sum(s.size for s in sentences) / SR
    return {"y": y, "speech_s": speech_s, "span_s": speech_s + sum(GAPS_S), "total_s": y.size / SR}


def _noisy(y: np.ndarray, rms: float, seed: int = 0) -> np.ndarray:
    return (y + rms * np.random.default_rng(seed).standard_normal(y.size)).astype(np.float32)


# --- resources -------------------------------------------------------------------------------


def test_arctic_is_cached_real_16k_sentence(arctic_audio):
    path = arctic_wav()
    mtime = path.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert arctic_wav() == path
    assert time.perf_counter() - t0 < 0.5  # no second download
    assert path.stat().st_mtime_ns == mtime
    y, sr = arctic_audio
    assert y.dtype == np.float32 and y.shape == (64000,)  # 4.0 s at 16 kHz
    assert 0.3 < np.abs(y).max() <= 1.0


def test_arctic_fetch_failure_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CDR_CACHE", str(tmp_path))
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(CdrError, match="could not fetch the CMU Arctic test sentence.*PyPI"):
        arctic_wav()


def test_speak_rate_length_and_speed():
    slow = speak("Nobody knew where the little dog had gone", speed=120)
    fast = speak("Nobody knew where the little dog had gone", speed=240)
    at8k = speak("Nobody knew where the little dog had gone", speed=120, sr=8000)
    assert slow.dtype == np.float32 and slow.ndim == 1
    assert abs(at8k.size * 2 - slow.size) <= 2
    assert 0.4 < _trim(fast).size / _trim(slow).size < 0.7
    assert 0.05 < np.abs(slow).max() <= 1.0


def test_speak_without_espeak_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(CdrError, match="espeak-ng is missing.*apt-get install espeak-ng"):
        speak("hello")


@pytest.mark.parametrize("kwargs", [{"speed": 10}, {"pitch": 120}, {"sr": 0}])
def test_speak_rejects_bad_parameters(kwargs):
    with pytest.raises(ParameterError):
        speak("hello", **kwargs)


# --- real speech -------------------------------------------------------------------------------


def test_arctic_male_f0_and_high_speech_ratio(arctic_audio):
    y, sr = arctic_audio
    with pytest.warns(UserWarning, match="no pause"):  # one sentence, no pause in it
        s = speech_features(y, sr)
    assert list(s.index) == SPEECH_NAMES
    f0_hz = float(gemaps.semitone_to_hz(s[F0_MEAN]))
    assert 85.0 < f0_hz < 180.0
    f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=400, sr=sr)
    assert abs(np.nanmedian(f0[voiced]) / f0_hz - 1) < 0.1  # an independent estimator agrees
    assert 0.6 < s["qc.speech_ratio"] < 0.95
    assert s["voice.speech_ratio"] > 0.9  # inside the patient's one turn, which is all speech
    assert s["qc.n_speakers"] == 1 and s["turns.patient_share"] == 1.0 and s["qc.patient_attribution"] == 0
    assert np.isnan(s["turns.response_latency_median_s"])  # one speaker: nobody to answer
    assert s["qc.audio_present"] == 1.0
    assert s["voice.pauses_per_min"] == 0.0
    assert s[["voice.pause_mean_s", "voice.pause_median_s", "voice.pause_max_s"]].isna().all()
    assert 2.0 < s["voice.syllable_rate"] < 8.0
    assert s[mfcc.NAMES].notna().all() and s[gemaps.NAMES].notna().all()


def test_int16_input_keeps_f0(arctic_audio):
    """openSMILE reports F0 = 0 for int16 samples; the pipeline must convert first."""
    y, sr = arctic_audio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = speech_features(y, sr)
        pcm = speech_features(np.round(y * 32767).astype(np.int16), sr)
    assert pcm[F0_MEAN] > 0 and abs(pcm[F0_MEAN] - ref[F0_MEAN]) < 0.05


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_stereo_is_averaged(arctic_audio, layout):
    y, sr = arctic_audio
    stereo = np.stack([y, 0.5 * y]) if layout == "channels_first" else np.stack([y, 0.5 * y], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = speech_features(stereo, sr)
        b = speech_features(0.75 * y, sr)
    pd.testing.assert_series_equal(a, b, rtol=1e-5)


# Functionals compared across sample rates, with the relative tolerance for 8 kHz and 44.1 kHz.
# F0, HNR, formants (F1-F3 lie below 4 kHz) and voiced-segment timing depend on the band below
# 4 kHz only, so a telephone band must not move them: 1-5 %. Jitter is a ratio of small period
# differences: 10 %. Loudness integrates the whole band; 8 kHz audio has nothing above 4 kHz,
# which for a male voice removes ~8 % of the loudness: 15 % at 8 kHz. 44.1 kHz carries the same
# content as 16 kHz, so it must agree to 1 %. MFCCs and spectral slopes are left out on purpose:
# they describe the spectrum's shape up to 8 kHz, which a telephone band changes by design.
RATE_TOLERANCE = {
    F0_MEAN: (0.01, 0.01),
    "gemaps.F0semitoneFrom27.5Hz_sma3nz_percentile50.0": (0.01, 0.01),
    "gemaps.HNRdBACF_sma3nz_amean": (0.05, 0.01),
    "gemaps.jitterLocal_sma3nz_amean": (0.10, 0.05),
    "gemaps.F1frequency_sma3nz_amean": (0.05, 0.03),
    "gemaps.F2frequency_sma3nz_amean": (0.05, 0.03),
    "gemaps.VoicedSegmentsPerSec": (0.05, 0.01),
    "gemaps.MeanVoicedSegmentLengthSec": (0.05, 0.01),
    "gemaps.loudness_sma3_amean": (0.15, 0.01),
}


def test_gemaps_agree_across_sample_rates(arctic_audio):
    y, sr = arctic_audio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = speech_features(y, sr)
        at = {rate: speech_features(soxr.resample(y, sr, rate), rate) for rate in (8000, 44100)}
    for name, (tol8, tol44) in RATE_TOLERANCE.items():
        for rate, tol in ((8000, tol8), (44100, tol44)):
            rel = abs(at[rate][name] / ref[name] - 1)
            assert rel < tol, f"{name} at {rate} Hz differs by {rel:.1%} (tolerance {tol:.0%})"
    for rate in (8000, 44100):
        assert list(at[rate].index) == SPEECH_NAMES
        assert abs(at[rate]["qc.speech_ratio"] - ref["qc.speech_ratio"]) < 0.03


# --- planted pauses ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "noise"), [(16000, 0.0), (16000, 0.003), (8000, 0.003), (44100, 0.0)])
def test_planted_pauses(planted, rate, noise):
    y = _noisy(planted["y"], noise) if noise else planted["y"]
    if rate != SR:
        y = soxr.resample(y, SR, rate)
    y16 = soxr.resample(y, rate, SR) if rate != SR else y
    found = voice.pauses(voice.voice_activity(y16, SR))
    durations = found[:, 1] - found[:, 0]
    assert durations.size == len(GAPS_S)
    np.testing.assert_allclose(durations, GAPS_S, rtol=0.10)
    np.testing.assert_allclose(found[0, 0], EDGE_S + len(_trim(speak(SENTENCES[0], sr=SR))) / SR, atol=0.06)
    s = speech_features(y, rate)
    assert s["voice.pauses_per_min"] == pytest.approx(len(GAPS_S) / (planted["span_s"] / 60), rel=0.05)
    assert s["voice.pause_mean_s"] == pytest.approx(np.mean(GAPS_S), rel=0.10)
    assert s["voice.pause_median_s"] == pytest.approx(np.median(GAPS_S), rel=0.10)
    assert s["voice.pause_max_s"] == pytest.approx(max(GAPS_S), rel=0.10)
    # speech ratio inside the (one) speaker's turn, from the first to the last speech
    assert s["voice.speech_ratio"] == pytest.approx(planted["speech_s"] / planted["span_s"], abs=0.03)
    assert s["qc.speech_ratio"] == pytest.approx(planted["speech_s"] / planted["total_s"], abs=0.03)
    # active-frame MFCC functionals leave the silences out, all-frame ones do not
    assert s["mfcc.mfcc00_mean_active"] > s["mfcc.mfcc00_mean_all"] + 10


def test_syllable_rate_counts_planted_syllables():
    rates = {}
    for speed in (120, 220):
        y = speak(" ".join(SENTENCES), speed=speed, sr=SR)
        act = voice.voice_activity(y, SR)
        n = voice.syllable_nuclei(y, SR, act).size
        assert abs(n / SYLLABLES - 1) < 0.12, f"{n} nuclei for {SYLLABLES} syllables at {speed} wpm"
        with pytest.warns(UserWarning, match="no pause"):
            rates[speed] = voice.voice_features(y, SR, act)["voice.syllable_rate"]
    assert 1.4 < rates[220] / rates[120] < 2.2


# --- mfcc -------------------------------------------------------------------------------------------


def test_mfcc_gain_moves_only_c0(arctic_audio):
    """A gain g adds 20*log10(g) dB to every mel band; the ortho DCT puts that in c0 only (x sqrt(n_mels))."""
    y, sr = arctic_audio
    active = voice.voice_activity(y, sr).active
    a = mfcc.mfcc_features(y, sr, active=active)
    b = mfcc.mfcc_features(0.5 * y, sr, active=active)
    shift = 20 * np.log10(0.5) * np.sqrt(40)
    assert b["mfcc.mfcc00_mean_active"] - a["mfcc.mfcc00_mean_active"] == pytest.approx(shift, rel=0.01)
    others = [n for n in mfcc.NAMES if "_mean_active" in n and not n.startswith("mfcc.mfcc00")]
    np.testing.assert_allclose(b[others], a[others], atol=0.05)
    stds = [n for n in mfcc.NAMES if "_std_" in n]
    np.testing.assert_allclose(b[stds], a[stds], atol=0.05)


def test_mfcc_configurable_and_all_equals_active_when_all_active(arctic_audio):
    y, sr = arctic_audio
    names = mfcc.mfcc_names(n_mfcc=20)
    assert len(names) == 240 and len(set(names)) == 240 and "mfcc.mfcc19_d2_std_active" in names
    s = mfcc.mfcc_features(y, sr, active=np.ones(500, bool), n_mfcc=20)
    assert list(s.index) == names
    for n in names:
        if n.endswith("_all"):
            assert s[n] == pytest.approx(s[n.replace("_all", "_active")])
    with pytest.raises(ParameterError):
        mfcc.mfcc_names(n_mfcc=0)


# --- not measurable -> NaN with a warning, never 0 --------------------------------------------------


def _groups_nan(s: pd.Series) -> bool:
    return bool(s[GROUP_NAMES].isna().all())


def test_no_audio_track():
    with pytest.warns(UserWarning, match="no audio track"):
        s = speech_features(None, SR)
    assert list(s.index) == SPEECH_NAMES and _groups_nan(s)
    assert s["qc.audio_present"] == 0.0 and np.isnan(s["qc.speech_ratio"])


@pytest.mark.parametrize("level", [0.0, 1e-5])
def test_silent_audio(level):
    y = _noisy(np.zeros(3 * SR, np.float32), level)
    with pytest.warns(UserWarning, match="silent"):
        s = speech_features(y, SR)
    assert _groups_nan(s) and s["qc.audio_present"] == 1.0 and s["qc.speech_ratio"] == 0.0


def test_short_audio(arctic_audio):
    y, sr = arctic_audio
    with pytest.warns(UserWarning, match="under 1.0 s"):
        s = speech_features(y[20000:28000], sr)
    assert _groups_nan(s) and s["qc.audio_present"] == 1.0 and np.isnan(s["qc.speech_ratio"])


def test_steady_tone_is_not_speech():
    t = np.arange(3 * SR) / SR
    with pytest.warns(UserWarning, match="steady sound"):
        s = speech_features((0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), SR)
    assert _groups_nan(s) and np.isnan(s["qc.speech_ratio"])


def test_unvoiced_bursts_give_nan_voice_quality_not_zero():
    y = np.zeros(4 * SR, np.float32)
    y[SR : 2 * SR] = _noisy(np.zeros(SR, np.float32), 0.1)
    y[int(2.5 * SR) : int(3.2 * SR)] = _noisy(np.zeros(int(0.7 * SR), np.float32), 0.1, seed=1)
    with pytest.warns(UserWarning, match="no voiced frame"):
        s = speech_features(y, SR)
    assert s[gemaps.VOICED].isna().all() and s["gemaps.VoicedSegmentsPerSec"] == 0.0
    assert s["gemaps.loudness_sma3_amean"] > 0 and s["voice.pause_max_s"] == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize(("y", "sr"), [(np.zeros((2, 2, 100)), SR), (np.zeros(SR), 0), (np.zeros(SR), 16000.5)])
def test_bad_parameters_are_one_line_errors(y, sr):
    with pytest.raises(ParameterError, match="audio"):
        speech_features(y, sr)


# --- property tests ------------------------------------------------------------------------------------


@st.composite
def odd_signals(draw) -> tuple[np.ndarray, int]:
    sr = draw(st.sampled_from([8000, 16000, 44100]))
    n = int(draw(st.sampled_from([1.5, 2.5, 2.0, 1.0, 0.99, 0.0])) * sr) + draw(st.integers(0, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["noise", "constant", "nonfinite", "extreme", "bursts", "clipped_speech"]))
    amp = draw(st.sampled_from([0.0, 1e-6, 1e-3, 0.3, 1.0, 1e3, 1e30]))
    if kind == "constant":
        y = np.full(n, amp, np.float32)
    elif kind == "extreme":
        y = rng.choice(np.array([-3.4e38, 3.4e38, 0.0], np.float32), n)
    else:
        y = (amp * rng.standard_normal(n)).astype(np.float32)
        if kind == "nonfinite" and n:
            y[rng.integers(0, n, size=max(1, n // draw(st.sampled_from([1, 10, 1000]))))] = draw(
                st.sampled_from([np.nan, np.inf, -np.inf])
            )
        elif kind == "bursts":
            y *= np.sin(np.arange(n) / sr * np.pi * 1.5) > 0.3
        elif kind == "clipped_speech":
            y = np.clip(np.tile(speak("Testing one two three", sr=sr), 3)[:n] * 50, -1, 1)
    return y, sr


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_signals())
def test_speech_features_never_crash_nor_silently_zero(signal):
    y, sr = signal
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = speech_features(y, sr)
    assert list(s.index) == SPEECH_NAMES
    values = s.to_numpy()
    assert not np.isinf(values).any()
    if s[GROUP_NAMES].isna().any():
        assert caught, "NaN features without a warning"
    groups = s[GROUP_NAMES].dropna()
    assert groups.empty or (groups != 0).any()
    finite = y[np.isfinite(y)]
    if finite.size and finite.min() == finite.max():
        assert _groups_nan(s)  # a constant signal holds no speech


def test_voicing_tells_periodic_from_noise():
    t = np.arange(2 * SR) / SR
    buzz = sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 12))  # a 110 Hz glottal-like buzz
    hiss = np.random.default_rng(0).standard_normal(t.size)
    frames = np.arange(20, 180)
    assert voice.voiced_frames(buzz, SR, frames).all()
    assert voice.voiced_frames(hiss, SR, frames).mean() < 0.05
    assert voice.voiced_frames(buzz, SR).size == voice.voice_activity(buzz.astype(np.float32), SR).active.size


def test_long_stretches_are_measured_in_equal_pieces_of_at_most_a_minute(arctic_audio):
    cut = gemaps.split_long(np.array([[0.0, 150.0], [200.0, 260.0], [300.0, 300.7]]))
    np.testing.assert_allclose(cut, [[0, 50], [50, 100], [100, 150], [200, 260], [300, 300.7]])
    y, sr = arctic_audio
    y = np.resize(np.r_[y, np.zeros(sr // 2, np.float32)], 150 * sr)
    whole = gemaps.gemaps_over_segments(y, sr, np.array([[0.0, 150.0]]))
    pieces = gemaps.gemaps_over_segments(y, sr, np.array([[0.0, 50.0], [50.0, 100.0], [100.0, 150.0]]))
    pd.testing.assert_series_equal(whole, pieces)


GEMAPS_PEAK = """
import resource, sys
import numpy as np
from cdr.features import gemaps
from cdr.resources import arctic_wav
import soundfile as sf
y, sr = sf.read(arctic_wav(), dtype="float32")
y = np.resize(np.r_[y, np.zeros(sr // 2, np.float32)], int(float(sys.argv[1]) * 60 * sr))
y += 0.003 * np.random.default_rng(0).standard_normal(y.size, dtype=np.float32)
gemaps.gemaps_over_segments(y[:sr * 5], sr, np.array([[0.0, 5.0]]))  # openSMILE loaded
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gemaps.gemaps_over_segments(y, sr, np.array([[0.0, y.size / sr]]))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_gemaps_of_a_long_monologue_takes_the_memory_of_one_piece():
    """openSMILE holds ~25 MB per minute of its input; 8 minutes in one piece would add ~200 MB."""
    import subprocess

    grown = float(subprocess.run([sys.executable, "-c", GEMAPS_PEAK, "8"], check=True, capture_output=True,
                                 text=True).stdout.split()[-1])
    assert grown < 80, f"peak grew by {grown:.0f} MB for 8 minutes of speech"
