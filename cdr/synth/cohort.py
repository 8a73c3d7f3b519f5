"""A synthetic interview cohort with planted, stated class effects.

SYNTHETIC DATA. Every video is a real public photograph re-rendered
(``cdr.synth.face``) with synthetic speech (``cdr.synth.speech``); no
recording of any patient is involved, and the files say so.

Design. Each subject gets a CDR class (0.5, 1, 2 in the study's 17/19/4 split
by default, shuffled by the seed). Each *marker* is a per-subject parameter
whose latent value (log scale for positive quantities, atanh for the coupling)
is ``base + spread * (z + sign * d * c)``, with ``z ~ N(0, 1)`` per subject,
``c = 0, 0.5, 1`` for CDR 0.5, 1, 2 and ``d`` the marker's effect size (Cohen's
d between CDR 2 and CDR 0.5 on the latent scale; a negative ``d`` reverses the marker's
direction). ``d = 0`` for every marker is
the null cohort. Identity, appearance, voice, pitch level, background, frame
size, frame rate, length, face size, head motion and blink rate are drawn
independently of class, so that only the planted markers separate the classes.

Files written into ``OUT``::

    videos/<video_id>.mp4            H.264 + AAC, one interview each
    videos/<video_id>.truth.parquet  per-frame ground truth (pose, gaze, blink, expression)
    videos/<video_id>.speech.csv     spoken segments (speaker, start, end, planted gaps)
    labels.csv                       video_id, cdr, subject_id
    planted.csv                      every per-video drawn parameter, markers included
    cohort.json                      configuration, planted effects, counts; written last
    README.txt                       what this is (synthetic)

A second call with the same configuration finds ``cohort.json`` and returns at
once; an interrupted run redoes only the missing videos. A call with another
configuration into the same folder replaces the videos there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ParameterError
from . import schedule as S
from .speech import INTERVIEWER_VOICES, VOICES

class Marker(NamedTuple):
    """A planted marker: its latent value is ``base + spread * (z + sign * d * c)``."""

    group: str  # the feature group it should show in
    base: float  # latent value at CDR 0.5 for z = 0
    spread: float  # between-subject SD of the latent value
    sign: int  # +1: rises with CDR, -1: falls
    scale: str  # "log" (value = exp(latent)) or "atanh" (value = tanh(latent))
    what: str


MARKERS: dict[str, Marker] = {
    "eye_range": Marker("pupil", np.log(0.07), 0.25, -1, "log", "SD of gaze fixation targets, eye widths"),
    "coupling": Marker("coupling", np.arctanh(0.2), 0.35, +1, "atanh",
                       "correlation of vertical gaze with head pitch (head-eye vertical coupling)"),
    "expressivity": Marker("expr", 0.0, 0.3, -1, "log", "smile and brow-raise episode rate and amplitude factor"),
    "pauses": Marker("voice", np.log(0.45), 0.3, +1, "log", "mean pause between phrases of an answer, s"),
    "latency": Marker("turns", np.log(0.7), 0.3, +1, "log", "mean response latency after a question, s"),
    "speech_rate": Marker("gemaps", np.log(170.0), 0.08, -1, "log", "speaking rate, words per minute"),
    "pitch_variability": Marker("gemaps", np.log(10.0), 0.3, -1, "log",
                                "phrase-to-phrase SD of the espeak-ng pitch setting (0..99 scale)"),
}
CLASS_CODE = {0.5: 0.0, 1.0: 0.5, 2.0: 1.0}


@dataclass(frozen=True)
class CohortConfig:
    """What to generate. Every field takes part in the cache key.

    ``effects`` maps marker (``MARKERS``) to effect size d; missing markers are 0.
    ``duration_s`` is the (min, max) video length, drawn uniformly per video.
    """

    n_per_class: tuple[tuple[float, int], ...] = ((0.5, 17), (1.0, 19), (2.0, 4))
    effects: tuple[tuple[str, float], ...] = tuple((m, 1.2) for m in MARKERS)
    duration_s: tuple[float, float] = (30.0, 60.0)
    fps_choices: tuple[float, ...] = (25.0, 30.0)
    frame_sizes: tuple[tuple[int, int], ...] = ((640, 480),)
    face_width: tuple[float, float] = (0.2, 0.38)
    photos: tuple[str, ...] = ("astronaut",)
    videos_per_subject: int = 1
    seed: int = 0

    @classmethod
    def null(cls, **kwargs) -> "CohortConfig":
        """The same cohort with every effect size 0."""
        return cls(effects=tuple((m, 0.0) for m in MARKERS), **kwargs)

    def effect(self, marker: str) -> float:
        return float(dict(self.effects).get(marker, 0.0))

    def validate(self) -> None:
        unknown = sorted(set(dict(self.effects)) - set(MARKERS))
        if unknown:
            raise ParameterError(f"effects name unknown markers {unknown}; use {sorted(MARKERS)}")
        for cdr, n in self.n_per_class:
            if float(cdr) not in CLASS_CODE or int(n) < 0:
                raise ParameterError(f"n_per_class entry ({cdr}, {n}): CDR must be 0.5, 1 or 2 and n >= 0")
        lo, hi = self.duration_s
        if not 1.0 <= lo <= hi:
            raise ParameterError(f"duration_s={self.duration_s} must be (min, max) with 1 <= min <= max seconds")
        if self.videos_per_subject < 1:
            raise ParameterError(f"videos_per_subject={self.videos_per_subject} must be at least 1")

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def latent_to_value(marker: str, latent: np.ndarray | float) -> np.ndarray:
    scale = MARKERS[marker].scale
    return np.tanh(latent) if scale == "atanh" else np.exp(latent)


def draw_plan(config: CohortConfig) -> pd.DataFrame:
    """Every video's drawn parameters (one row per video), deterministic for ``config.seed``."""
    config.validate()
    root = np.random.SeedSequence(config.seed)
    class_rng, *subject_seeds = [np.random.default_rng(s) for s in root.spawn(1 + _n_subjects(config))]
    classes = np.concatenate([[float(c)] * int(n) for c, n in config.n_per_class])
    classes = class_rng.permutation(classes)
    rows = []
    for i, (cdr, rng) in enumerate(zip(classes, subject_seeds)):
        sid = f"s{i + 1:02d}"
        subject = _subject_traits(config, cdr, rng)
        for v in range(config.videos_per_subject):
            vid = sid if config.videos_per_subject == 1 else f"{sid}_v{v + 1}"
            rows.append({"video_id": vid, "subject_id": sid, "cdr": cdr, **subject, **_video_draws(config, rng)})
    return pd.DataFrame(rows)


def _n_subjects(config: CohortConfig) -> int:
    return int(sum(int(n) for _, n in config.n_per_class))


def _subject_traits(config: CohortConfig, cdr: float, rng: np.random.Generator) -> dict:
    """Per-subject values: markers (class-dependent) and class-independent traits."""
    out: dict = {}
    for m, (_, base, spread, sign, _, _) in MARKERS.items():
        z = rng.standard_normal()
        out[m] = float(latent_to_value(m, base + spread * (z + sign * config.effect(m) * CLASS_CODE[cdr])))
    out.update(
        photo=str(config.photos[int(rng.integers(len(config.photos)))]),
        mirror=bool(rng.integers(2)),
        colour_r=float(rng.uniform(0.85, 1.15)), colour_g=float(rng.uniform(0.85, 1.15)),
        colour_b=float(rng.uniform(0.85, 1.15)),
        aspect_x=float(rng.uniform(0.93, 1.07)), aspect_y=float(rng.uniform(0.93, 1.07)),
        voice=str(VOICES[int(rng.integers(len(VOICES)))]),
        interviewer_voice=str(INTERVIEWER_VOICES[int(rng.integers(len(INTERVIEWER_VOICES)))]),
        pitch=float(rng.uniform(30, 70)),
        yaw_sd=float(rng.uniform(3, 8)), pitch_sd=float(rng.uniform(2, 5)), roll_sd=float(rng.uniform(1.5, 4)),
        blinks_per_min=float(rng.uniform(10, 22)),
    )
    return out


def _video_draws(config: CohortConfig, rng: np.random.Generator) -> dict:
    w, h = config.frame_sizes[int(rng.integers(len(config.frame_sizes)))]
    lo, hi = config.duration_s
    return dict(
        fps=float(config.fps_choices[int(rng.integers(len(config.fps_choices)))]),
        duration_s=float(np.round(rng.uniform(lo, hi), 1)),
        width=int(w), height=int(h),
        face_width=float(rng.uniform(*config.face_width)),
        center_x=float(rng.uniform(0.4, 0.6)), center_y=float(rng.uniform(0.42, 0.55)),
        background_seed=int(rng.integers(2**31)),
        real_opening=bool(rng.integers(2)),
        seed=int(rng.integers(2**63)),
    )


def make_video(row: dict, folder: str | os.PathLike) -> Path:
    """Render one planned video (a row of ``draw_plan``) with its truth and speech table."""
    from .face import FaceRenderer
    from .speech import SpeakerStyle, interview_audio
    from .video import render_face_video, truth_path

    folder = Path(folder)
    path = folder / f"{row['video_id']}.mp4"
    speech_csv = folder / f"{row['video_id']}.speech.csv"
    if path.exists() and truth_path(path).exists() and speech_csv.exists():
        return path
    audio_rng, face_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(row["seed"]).spawn(2))
    style = SpeakerStyle(voice=row["voice"], pitch=row["pitch"], pitch_sd=row["pitch_variability"],
                         rate_wpm=float(np.clip(row["speech_rate"], 90, 300)), latency_s=row["latency"],
                         pause_s=row["pauses"])
    audio, segments = interview_audio(row["duration_s"], style, row["interviewer_voice"], audio_rng,
                                      real_opening=row["real_opening"])
    n = int(round(row["duration_s"] * row["fps"]))
    sched = S.face_schedule(row, n, row["fps"], face_rng)
    sched["expr_jaw"] = S.jaw_with_speech(segments, n, row["fps"])  # the patient's own speech; the interviewer is off camera
    renderer = FaceRenderer(row["photo"], mirror=row["mirror"],
                            colour=(row["colour_r"], row["colour_g"], row["colour_b"]),
                            aspect=(row["aspect_x"], row["aspect_y"]))
    render_face_video(path, sched, fps=row["fps"], renderer=renderer, frame_size=(row["width"], row["height"]),
                      background=row["background_seed"], audio=audio, threads=1)
    tmp = speech_csv.with_suffix(".csv.part")
    segments.to_csv(tmp, index=False)
    os.replace(tmp, speech_csv)
    return path


def generate_cohort(out: str | os.PathLike, config: CohortConfig | None = None, *, jobs: int = 1,
                    progress: bool = False) -> Path:
    """Generate (or reuse) a synthetic cohort in ``out``; return ``out``.

    Parameters
    ----------
    out : folder to write (created); see the module docstring for its layout
    config : CohortConfig, default ``CohortConfig()``
    jobs : int
        Worker processes rendering videos in parallel.
    progress : bool
        Show a progress bar.
    """
    config = config or CohortConfig()
    out = Path(out)
    manifest = out / "cohort.json"
    if manifest.exists():
        try:
            done = json.loads(manifest.read_text())
        except (OSError, ValueError):
            done = {}
        if done.get("config_key") == config.key() and done.get("complete"):
            return out
    plan = draw_plan(config)
    videos = out / "videos"
    key_file = out / ".config_key"
    if key_file.exists() and key_file.read_text().strip() != config.key():
        # A cohort of another configuration was (partly) generated here: its videos must not be reused.
        shutil.rmtree(videos, ignore_errors=True)
    videos.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    key_file.write_text(config.key())
    rows = plan.to_dict("records")
    if jobs <= 1:
        it = (make_video(r, videos) for r in rows)
        _drain(it, len(rows), progress)
    else:
        # joblib's loky workers start fresh (no fork of a caller that already runs threads,
        # which can deadlock) and need no __main__ guard in the calling script.
        from joblib import Parallel, delayed

        from ..parallel import quiet_worker_restarts

        tasks = (delayed(_make_video_in_worker)(r, videos) for r in rows)
        with quiet_worker_restarts():
            _drain(Parallel(n_jobs=jobs, backend="loky", return_as="generator")(tasks), len(rows), progress)
    plan[["video_id", "cdr", "subject_id"]].to_csv(out / "labels.csv", index=False)
    plan.to_csv(out / "planted.csv", index=False)
    (out / "README.txt").write_text(_README)
    tmp = manifest.with_suffix(".json.part")
    tmp.write_text(json.dumps(describe(config, plan), indent=2))
    os.replace(tmp, manifest)
    return out


def _make_video_in_worker(row: dict, folder: Path) -> Path:
    """``make_video`` in a worker process: one OpenCV thread, as each worker has a core."""
    import cv2

    cv2.setNumThreads(1)
    return make_video(row, folder)


def _drain(it, n: int, progress: bool) -> None:
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=n, desc="synthetic cohort", unit="video")
    for _ in it:
        pass


def describe(config: CohortConfig, plan: pd.DataFrame) -> dict:
    """The JSON stated beside the cohort: configuration, every planted effect, counts."""
    effects = {}
    for m, (group, base, spread, sign, scale, what) in MARKERS.items():
        d = config.effect(m)
        effects[m] = {
            "effect_size_d": d,
            "feature_group": group,
            "parameter": what,
            "direction": "none" if d == 0 else ("increases" if sign * d > 0 else "decreases") + " with CDR",
            "latent_scale": scale,
            "model": f"{scale}-value = {base:.4g} + {spread:.4g} * (z + {sign:+d} * d * c), z ~ N(0,1) per subject, "
                     "c = 0, 0.5, 1 for CDR 0.5, 1, 2",
            "class_medians": {str(c): float(latent_to_value(m, base + spread * sign * d * code))
                              for c, code in CLASS_CODE.items()},
            "realised_class_means": {str(c): float(g[m].mean()) for c, g in plan.groupby("cdr")},
        }
    return {
        "synthetic": True,
        "note": "SYNTHETIC cohort: public photographs re-rendered and synthetic speech; no patient data.",
        "config": config.to_json(),
        "config_key": config.key(),
        "null_cohort": all(config.effect(m) == 0 for m in MARKERS),
        "effects": effects,
        "groups_carrying_nothing": sorted(
            {"pupil", "coupling", "pose", "mfcc", "gemaps", "voice", "turns", "expr"}
            - {MARKERS[m].group for m in MARKERS if config.effect(m) != 0}),
        "groups_carrying_nothing_note": "no marker is planted in these groups: their ablation rows should sit "
                                        "at chance (balanced accuracy near 1/3 for cdr3, 1/2 for binary)",
        "independent_of_class": ["photo", "mirror", "colour", "aspect", "voice", "interviewer_voice", "pitch",
                                 "background", "frame size", "fps", "duration", "face_width", "position",
                                 "head motion", "blink rate", "real_opening"],
        "counts": {str(c): int(n) for c, n in plan.drop_duplicates("subject_id")["cdr"].value_counts().items()},
        "n_videos": int(len(plan)),
        "real_identities": sorted(set(plan["photo"])),
        "complete": True,
    }


_README = """SYNTHETIC DATA - not patients.

This folder was generated by cdr.synth.cohort: public photographs (see cohort.json,
"real_identities") re-rendered with planted head, gaze, blink and expression motion,
and synthetic interview speech (espeak-ng voices; possibly one real public-domain
CMU Arctic sentence as the interviewer's opening line). The class effects that were
planted, and their sizes, are stated in cohort.json; per-video parameters are in
planted.csv; per-frame ground truth is beside each video (*.truth.parquet).
"""


def config_from_mapping(mapping: dict) -> CohortConfig:
    """Build a config from plain values (e.g. a TOML table); unknown keys are refused."""
    known = {f for f in CohortConfig.__dataclass_fields__}
    bad = sorted(set(mapping) - known)
    if bad:
        raise ParameterError(f"unknown cohort settings {bad}; use {sorted(known)}")
    m = dict(mapping)
    if "n_per_class" in m and isinstance(m["n_per_class"], dict):
        m["n_per_class"] = tuple((float(k), int(v)) for k, v in m["n_per_class"].items())
    if "effects" in m and isinstance(m["effects"], dict):
        m["effects"] = tuple((k, float(v)) for k, v in m["effects"].items())
    for k in ("duration_s", "fps_choices", "face_width", "photos"):
        if k in m:
            m[k] = tuple(m[k])
    if "frame_sizes" in m:
        m["frame_sizes"] = tuple(tuple(int(a) for a in s) for s in m["frame_sizes"])
    return replace(CohortConfig(), **m)


