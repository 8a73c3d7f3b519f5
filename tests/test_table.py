"""The folder run (cdr.table): files that would share a video_id, and reruns that change nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import soundfile as sf

from cdr.table import extract_folder


def test_colliding_ids_are_both_refused_and_a_rerun_rewrites_nothing(tmp_path, arctic_audio):
    y, sr = arctic_audio
    src = tmp_path / "in"
    (src / "site b").mkdir(parents=True)
    sf.write(src / "a.wav", y, sr)
    sf.write(src / "p01.wav", y, sr)
    sf.write(src / "p01.flac", np.zeros_like(y), sr)  # another recording, the same video_id
    sf.write(src / "site b" / "p02.wav", y, sr)
    sf.write(src / "site b" / "p02.ogg", y, sr)
    out = tmp_path / "out"

    def run():
        s = extract_folder(src, out, progress=False)
        stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        return s, pd.read_csv(out / "failures.csv"), stamps

    s, fails, before = run()
    assert s.n_done == 1 and list(pd.read_parquet(out / "features.parquet").index) == ["a"]
    assert fails["video_id"].tolist() == ["p01", "p01", "site b/p02", "site b/p02"]
    assert set(fails["stage"]) == {"input"}
    assert fails["error"].iloc[0] == (
        f"{src / 'p01.flac'}: p01.flac and p01.wav would share the video_id 'p01', so neither is "
        "extracted; rename one (e.g. p01_flac.flac) and rerun")
    assert fails["error"].iloc[3].startswith(f"{src / 'site b' / 'p02.wav'}: p02.ogg and p02.wav would share")
    assert not (out / "cache" / "p01.parquet").exists()

    s2, fails2, after = run()
    assert s2.n_cached == 1 and s2.n_done == 0
    assert fails2.equals(fails)
    assert after == before  # nothing rewritten: the same files, the same modification times
