"""A dataset's synthetic flag and note travel from its folder into features.parquet."""

from __future__ import annotations

import json

import pandas as pd

from cdr.cli.extract import main as extract_main
from cdr.provenance import banner, read_note, table_note


def test_cdr_extract_keeps_the_folders_note_in_the_table(tmp_path, arctic_audio, capsys):
    import soundfile as sf

    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a.wav", *arctic_audio)
    (src / "cohort.json").write_text(json.dumps({"synthetic": True, "note": "Made up.",
                                                 "config": {"n": 1}}))
    assert extract_main([str(src), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert "SYNTHETIC DATA: Made up." in capsys.readouterr().out
    table = pd.read_parquet(tmp_path / "out" / "features.parquet")
    assert table_note(table) == {"synthetic": True, "note": "Made up.", "source": "cohort.json"}
    (src / "cohort.json").unlink()
    assert extract_main([str(src), "-o", str(tmp_path / "out"), "--quiet"]) == 0  # cached row
    assert table_note(pd.read_parquet(tmp_path / "out" / "features.parquet")) == {}
    assert "SYNTHETIC" not in capsys.readouterr().out


def test_notes_banners_and_unreadable_files(tmp_path):
    assert read_note(tmp_path) == {}
    (tmp_path / "dataset.json").write_text('{"synthetic": false, "note": "Site A, 2024."}')
    note = read_note(tmp_path)
    assert note == {"synthetic": False, "note": "Site A, 2024.", "source": "dataset.json"}
    assert banner(note) is None and banner({}) is None
    (tmp_path / "dataset.json").write_text("{not json")
    assert "dataset.json could not be read" in read_note(tmp_path)["note"]
    assert banner({"synthetic": True, "note": ""}).startswith(
        "SYNTHETIC DATA: the recordings were generated")
