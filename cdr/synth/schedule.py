"""Per-frame motion schedules of a synthetic face: head motion, saccades, blinks, expressions.

SYNTHETIC DATA. These are simple generative models with known parameters, not
models of any patient's behaviour. Units: degrees for pose, eye widths for gaze,
0..1 for blink and expression amounts, fractions of the frame for position.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def smooth_motion(n: int, fps: float, sd: float, rng: np.random.Generator, *, f_lo: float = 0.03,
                  f_hi: float = 0.4, k: int = 5) -> np.ndarray:
    """A smooth random signal [shape=(n,)]: a sum of ``k`` sinusoids between ``f_lo`` and ``f_hi`` Hz,
    scaled to standard deviation ``sd`` (over a long run) with zero mean."""
    t = np.arange(n) / fps
    f = rng.uniform(f_lo, f_hi, k)
    amp = rng.uniform(0.5, 1.0, k) / np.sqrt(f / f_lo)  # slower components larger
    ph = rng.uniform(0, 2 * np.pi, k)
    x = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * t + ph[:, None])).sum(0)
    return sd * x / np.sqrt((amp**2).sum() / 2)


def fixations(n: int, fps: float, sd_x: float, sd_y: float, rng: np.random.Generator,
              mean_fixation_s: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Saccade-and-fixation gaze [shape=(n,)] x2: targets ~ N(0, sd) held for gamma-distributed
    fixations (mean ``mean_fixation_s``), with one-frame saccades between them."""
    gx, gy = np.empty(n), np.empty(n)
    i = 0
    while i < n:
        m = max(1, int(round(rng.gamma(2.0, mean_fixation_s / 2.0) * fps)))
        gx[i : i + m] = rng.normal(0, sd_x)
        gy[i : i + m] = rng.normal(0, sd_y)
        i += m
    return gx, gy


def episodes(n: int, fps: float, per_min: float, dur_s: tuple[float, float], amp: tuple[float, float],
             rng: np.random.Generator, ramp_s: float = 0.3) -> np.ndarray:
    """Poisson episodes [shape=(n,)] of a 0..1 amount with raised-cosine on- and offsets."""
    out = np.zeros(n)
    t = rng.exponential(60.0 / per_min) if per_min > 0 else np.inf
    total = n / fps
    while t < total:
        d = rng.uniform(*dur_s)
        a = rng.uniform(*amp)
        i0, i1 = int(t * fps), min(n, int((t + d) * fps) + 1)
        tt = np.arange(i0, i1) / fps - t
        env = np.clip(np.minimum(tt, d - tt) / ramp_s, 0, 1)
        out[i0:i1] = np.maximum(out[i0:i1], a * 0.5 * (1 - np.cos(np.pi * env)))
        t += d + rng.exponential(60.0 / per_min)
    return out


def blinks(n: int, fps: float, per_min: float, rng: np.random.Generator) -> np.ndarray:
    """Blink amount [shape=(n,)]: Poisson blinks, each ~0.25 s (closing 0.08 s, closed 0.05 s, opening 0.12 s)."""
    out = np.zeros(n)
    t = rng.exponential(60.0 / per_min)
    shape_t, shape_v = np.array([0, 0.08, 0.13, 0.25]), np.array([0, 1, 1, 0])
    while t < n / fps:
        i0, i1 = int(np.ceil(t * fps)), min(n, int((t + 0.25) * fps) + 1)
        out[i0:i1] = np.maximum(out[i0:i1], np.interp(np.arange(i0, i1) / fps - t, shape_t, shape_v))
        t += 0.4 + rng.exponential(60.0 / per_min)
    return out


def face_schedule(p: Mapping, n: int, fps: float, rng: np.random.Generator) -> pd.DataFrame:
    """One video's per-frame schedule from its drawn parameters.

    Parameters
    ----------
    p : mapping
        ``yaw_sd, pitch_sd, roll_sd`` (degrees), ``eye_range`` (gaze SD, eye widths),
        ``coupling`` (target correlation of vertical gaze with pitch), ``expressivity``
        (episode rate and amplitude factor), ``blinks_per_min``, ``face_width``,
        ``center_x``, ``center_y``.
    n, fps : frames and frame rate

    Returns
    -------
    pd.DataFrame with columns yaw, pitch, roll, gaze_x, gaze_y, blink, smile, expr_brows_up,
    face_width, center_x, center_y (one row per frame).
    """
    yaw = smooth_motion(n, fps, p["yaw_sd"], rng) + rng.normal(0, 3)
    pitch = smooth_motion(n, fps, p["pitch_sd"], rng) + rng.normal(0, 2)
    roll = smooth_motion(n, fps, p["roll_sd"], rng) + rng.normal(0, 2)
    r = float(p["eye_range"])
    gx, gy_own = fixations(n, fps, r, 0.6 * r, rng)
    # Vertical gaze = a * (pitch, standardised) + sqrt(1 - a^2) * (own saccades, standardised):
    # its correlation with pitch is the planted coupling a (pitch up -> gaze down in the image).
    a = float(np.clip(p["coupling"], -0.99, 0.99))
    pz = (pitch - pitch.mean()) / max(pitch.std(), 1e-9)
    gz = (gy_own - gy_own.mean()) / max(gy_own.std(), 1e-9)
    gy = 0.6 * r * (a * pz + np.sqrt(1 - a**2) * gz)
    e = float(p["expressivity"])
    smile = episodes(n, fps, 4.0 * e, (1.5, 4.0), (min(0.9, 0.5 * e), min(1.0, 0.9 * e)), rng)
    brows = episodes(n, fps, 1.5 * e, (0.8, 2.0), (min(0.6, 0.3 * e), min(0.9, 0.7 * e)), rng)
    return pd.DataFrame({
        "yaw": yaw, "pitch": pitch, "roll": roll,
        "gaze_x": np.clip(gx, -0.3, 0.3), "gaze_y": np.clip(gy, -0.2, 0.2),
        "blink": blinks(n, fps, p["blinks_per_min"], rng),
        "smile": smile, "expr_brows_up": brows,
        "face_width": p["face_width"] * (1 + 0.02 * smooth_motion(n, fps, 1.0, rng, f_hi=0.1)),
        "center_x": p["center_x"] + 0.01 * smooth_motion(n, fps, 1.0, rng, f_hi=0.1),
        "center_y": p["center_y"] + 0.01 * smooth_motion(n, fps, 1.0, rng, f_hi=0.1),
    })


def jaw_with_speech(segments: pd.DataFrame, n: int, fps: float, *, rate_hz: float = 4.0,
                    amount: float = 0.7) -> np.ndarray:
    """Jaw opening (0..amount) per frame that follows the patient's own speech.

    Inside each of the patient's spoken segments the jaw opens and closes at about the
    syllable rate (``rate_hz``); outside them (silence, the interviewer's questions) it
    stays closed, so the face's mouth moves with the patient's voice only.
    """
    t = np.arange(n) / fps
    jaw = np.zeros(n)
    own = segments[segments["speaker"] == "patient"]
    for s, e in zip(own["start_s"], own["end_s"]):
        inside = (t >= s) & (t < e)
        jaw[inside] = amount * 0.5 * (1 - np.cos(2 * np.pi * rate_hz * (t[inside] - s)))
    return jaw
