"""Who speaks when: voice activity + speaker embeddings + clustering -> speaker turns.

This is the only module that imports resemblyzer (Apache-2.0; its voice encoder,
``pretrained.pt``, ships inside the wheel, so nothing is downloaded at run time).

1. **Voice activity**: the project's energy VAD (:func:`cdr.features.voice.voice_activity`,
   10 ms frames), so that the turns and the ``voice.`` group agree on what is speech.
2. **Embeddings**: each contiguous speech region is cut into 1.6 s windows every
   :data:`HOP_S` seconds (resemblyzer's "partial utterances"; a region shorter than
   one window gets one zero-padded window) and each window gets a 256-d voice
   embedding. The signal is first brought to resemblyzer's training level (-30 dBFS).
3. **Clustering**: average-linkage agglomerative clustering of the windows on cosine
   distance (scikit-learn), cut at :data:`THRESHOLD`; this estimates the number of
   speakers. Clusters holding less than :data:`MIN_SPEAKER_S` of windows are folded
   into their nearest neighbour, and more than :data:`MAX_SPEAKERS` are merged down.
4. **Frame labels**: each speech frame takes the cluster of the nearest window
   centre in its region; label runs shorter than :data:`MIN_TURN_S` join the
   previous run.
5. **Overlap**: a window whose embedding is about as close to a second speaker's
   centroid as to its own (cosine similarities within :data:`OVERLAP_MARGIN`, both
   above :data:`OVERLAP_MIN_SIM`) marks its 0.25 s around the centre as spoken by
   both. Overlap regions are listed for both speakers; the speech groups leave them out.

Turns are a ``pd.DataFrame`` with columns ``start_s``, ``end_s`` (seconds) and
``speaker`` (a string), one row per segment, sorted by start; see :mod:`cdr.speakers.rttm`.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering

from ..features.voice import Activity, _runs

RATE = 16_000
#: Seconds between window centres (resemblyzer's windows are 1.6 s long).
HOP_S = 0.25
#: Cosine distance at which the clustering stops merging (one voice vs two).
THRESHOLD = 0.30
#: Most speakers estimated.
MAX_SPEAKERS = 4
#: A cluster with less speech than this (seconds of window hops) is not a speaker.
MIN_SPEAKER_S = 1.5
#: Label runs shorter than this (seconds) join their neighbour.
MIN_TURN_S = 0.3
OVERLAP_MARGIN = 0.10
OVERLAP_MIN_SIM = 0.70
TURN_COLUMNS = ["start_s", "end_s", "speaker"]
#: Most windows clustered at once (6,000 windows: 25 minutes of speech; 144 MB of distances).
MAX_CLUSTERED = 6000


@lru_cache(maxsize=1)
def encoder():
    """The process-wide resemblyzer voice encoder, on the CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # resemblyzer imports scipy.ndimage.morphology
        from resemblyzer import VoiceEncoder

        return VoiceEncoder("cpu", verbose=False)


def empty_turns() -> pd.DataFrame:
    return pd.DataFrame({"start_s": pd.Series(dtype=float), "end_s": pd.Series(dtype=float),
                         "speaker": pd.Series(dtype=object)})


def window_embeddings(y: np.ndarray, activity: Activity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voice embeddings of 1.6 s windows over the speech regions.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono audio at 16 kHz.
    activity : Activity
        The VAD of ``y``.

    Returns
    -------
    centres : np.ndarray [shape=(k,)]
        Window centres, in 10 ms frames.
    region : np.ndarray [shape=(k,), dtype=int]
        Index of the speech region each window lies in.
    emb : np.ndarray [shape=(k, 256)]
        L2-normalised embeddings.
    """
    enc = encoder()  # imports resemblyzer quietly

    hop = int(round(activity.hop_s * RATE))
    y = np.asarray(y, np.float32)
    # resemblyzer's normalize_volume(y, -30): one gain for the whole recording, applied here to
    # each region (its own version squares a copy of the signal: +0.5 GB for an hour).
    rms = np.sqrt(np.dot(y, y) / max(y.size, 1)) if y.size else 0.0
    gain = 10.0 ** ((-30.0 - 20.0 * np.log10(max(rms, 1e-12))) / 20.0)
    starts, ends, values = _runs(activity.active)
    centres, region, emb = [], [], []
    for r, (s, e) in enumerate((s, e) for s, e, v in zip(starts, ends, values) if v):
        wav = y[s * hop : e * hop] * np.float32(gain)
        if wav.size < int(0.2 * RATE):
            continue
        _, partials, slices = enc.embed_utterance(wav, return_partials=True, rate=1.0 / HOP_S,
                                                        min_coverage=0.5)
        for p, sl in zip(partials, slices):
            c = s + ((sl.start + min(sl.stop, wav.size)) / 2) / hop
            centres.append(min(c, e - 1))
            region.append(r)
            emb.append(p)
    if not emb:
        return np.zeros(0), np.zeros(0, int), np.zeros((0, 256), np.float32)
    return np.asarray(centres, float), np.asarray(region, int), np.asarray(emb, np.float32)


def cluster(emb: np.ndarray, *, threshold: float | None = None, max_speakers: int = MAX_SPEAKERS,
            min_windows: int = 1) -> np.ndarray:
    """Speaker label (0, 1, ... by decreasing size) of each embedding.

    Parameters
    ----------
    emb : np.ndarray [shape=(k, d)]
        L2-normalised embeddings.
    threshold : float, optional
        Cosine distance at which average-linkage merging stops (default :data:`THRESHOLD`).
    max_speakers : int
        At most this many labels.
    min_windows : int
        Clusters with fewer windows are folded into the nearest other cluster.
    """
    if len(emb) < 2:
        return np.zeros(len(emb), int)
    if len(emb) > MAX_CLUSTERED:
        return _cluster_subset(emb, threshold=threshold, max_speakers=max_speakers, min_windows=min_windows)
    threshold = THRESHOLD if threshold is None else threshold
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=threshold).fit_predict(emb)
    if labels.max() + 1 > max_speakers:
        labels = AgglomerativeClustering(n_clusters=max_speakers, metric="cosine",
                                         linkage="average").fit_predict(emb)
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if len(ids) < 2 or counts.min() >= min_windows:
            break
        small = ids[np.argmin(counts)]
        cents = _centroids(emb, labels)
        others = [i for i in ids if i != small]
        sims = [float(cents[small] @ cents[i]) for i in others]
        labels[labels == small] = others[int(np.argmax(sims))]
    ids, counts = np.unique(labels, return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    rank = {int(v): i for i, v in enumerate(order)}
    return np.array([rank[int(v)] for v in labels], int)


def _cluster_subset(emb: np.ndarray, **options) -> np.ndarray:
    """:func:`cluster` of an evenly strided subset; every window takes its nearest centroid.

    Average linkage holds all pairwise distances: 8 bytes x k^2 / 2 for k windows (0.8 GB
    at the 14,400 windows of an hour of speech). Above :data:`MAX_CLUSTERED` windows the
    clustering sees every n-th window, so that a long recording's memory stays bounded.
    """
    step = -(-len(emb) // MAX_CLUSTERED)
    sub = emb[::step]
    options["min_windows"] = max(1, options["min_windows"] // step)
    cents = _centroids(sub, cluster(sub, **options))
    ids = sorted(cents)
    labels = np.asarray(ids)[np.argmax(emb @ np.stack([cents[i] for i in ids]).T, axis=1)]
    ids, counts = np.unique(labels, return_counts=True)
    rank = {int(v): i for i, v in enumerate(ids[np.argsort(-counts, kind="stable")])}
    return np.array([rank[int(v)] for v in labels], int)


def _centroids(emb: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    out = {}
    for lab in np.unique(labels):
        c = emb[labels == lab].mean(0)
        out[int(lab)] = c / max(np.linalg.norm(c), 1e-12)
    return out


def diarize(y: np.ndarray, activity: Activity) -> pd.DataFrame:
    """Speaker turns of one recording, speakers named ``spk0``, ``spk1``, ... by decreasing speech.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono audio at 16 kHz.
    activity : Activity
        The energy VAD of ``y`` (:func:`cdr.features.voice.voice_activity`).

    Returns
    -------
    turns : pd.DataFrame
        Columns ``start_s``, ``end_s``, ``speaker``. Empty when there is no speech;
        overlap regions appear once for each of the speakers heard in them.
    """
    if activity.status != "ok" or not activity.active.any():
        return empty_turns()
    centres, region, emb = window_embeddings(y, activity)
    labels = np.full(activity.active.size, -1, int)
    if len(emb) == 0:
        labels[activity.active] = 0
        return _to_turns(labels, activity.hop_s, [])
    hop_windows = max(1, int(round(MIN_SPEAKER_S / HOP_S)))
    lab = cluster(emb, min_windows=hop_windows)
    starts, ends, values = _runs(activity.active)
    speech_runs = [(s, e) for s, e, v in zip(starts, ends, values) if v]
    for r, (s, e) in enumerate(speech_runs):
        sel = np.flatnonzero(region == r)
        frames = np.arange(s, e)
        if sel.size == 0:  # a burst too short to embed: the label of the nearest window
            nearest = int(np.argmin(np.abs(centres - (s + e) / 2)))
            labels[frames] = lab[nearest]
            continue
        idx = np.abs(frames[:, None] - centres[sel][None, :]).argmin(1)
        labels[frames] = lab[sel][idx]
    labels = _smooth(labels, int(round(MIN_TURN_S / activity.hop_s)))
    overlap = _overlap_windows(emb, lab, centres, activity)
    return _to_turns(labels, activity.hop_s, overlap)


def _smooth(labels: np.ndarray, min_len: int) -> np.ndarray:
    """Label runs (inside speech) shorter than ``min_len`` frames take the previous speech label."""
    out = labels.copy()
    starts, ends, values = _runs(labels)
    prev = -1
    for s, e, v in zip(starts, ends, values):
        if v < 0:
            continue
        if e - s < min_len and prev >= 0:
            out[s:e] = prev
        else:
            prev = v
    return out


def _overlap_windows(emb, lab, centres, activity) -> list[tuple[int, int, int]]:
    """``(start_frame, end_frame, second_speaker)`` of windows that sound like two speakers."""
    cents = _centroids(emb, lab)
    if len(cents) < 2:
        return []
    c = np.stack([cents[k] for k in sorted(cents)])
    sims = emb @ c.T
    order = np.argsort(-sims, axis=1)
    best, second = sims[np.arange(len(emb)), order[:, 0]], sims[np.arange(len(emb)), order[:, 1]]
    half = int(round(HOP_S / 2 / activity.hop_s))
    out = []
    for i in np.flatnonzero((best - second < OVERLAP_MARGIN) & (second > OVERLAP_MIN_SIM)):
        s, e = int(centres[i]) - half, int(centres[i]) + half
        s, e = max(s, 0), min(e, activity.active.size)
        if activity.active[s:e].all():
            other = int(order[i, 0]) if int(order[i, 0]) != lab[i] else int(order[i, 1])
            out.append((s, e, other))
    return out


def _to_turns(labels: np.ndarray, hop_s: float, overlap: list[tuple[int, int, int]]) -> pd.DataFrame:
    starts, ends, values = _runs(labels)
    rows = [(s * hop_s, e * hop_s, f"spk{v}") for s, e, v in zip(starts, ends, values) if v >= 0]
    rows += [(s * hop_s, e * hop_s, f"spk{o}") for s, e, o in overlap]
    if not rows:
        return empty_turns()
    turns = pd.DataFrame(rows, columns=TURN_COLUMNS).sort_values(["start_s", "speaker"], kind="stable")
    return merge_touching(turns.reset_index(drop=True))


def merge_touching(turns: pd.DataFrame, gap_s: float = 1e-6) -> pd.DataFrame:
    """Join segments of the same speaker that touch or overlap."""
    out = []
    for spk, g in turns.groupby("speaker", sort=False):
        g = g.sort_values("start_s")
        cur = None
        for s, e in zip(g["start_s"], g["end_s"]):
            if cur is not None and s <= cur[1] + gap_s:
                cur[1] = max(cur[1], e)
            else:
                if cur is not None:
                    out.append((cur[0], cur[1], spk))
                cur = [s, e]
        if cur is not None:
            out.append((cur[0], cur[1], spk))
    if not out:
        return empty_turns()
    return pd.DataFrame(out, columns=TURN_COLUMNS).sort_values(["start_s", "speaker"]).reset_index(drop=True)
