"""Messages a new user meets: --help texts, an empty folder, a one-class task, a labels file with ';'."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from cdr.cli import train
from cdr.cli.extract import main as extract_main


@pytest.mark.parametrize("module, usage", [
    ("extract", "-o OUT"), ("train", "-o MODEL_DIR"), ("predict", "--model MODEL_DIR"),
    ("scn_train", "-o CHECKPOINT_DIR"), ("demo", "-o DIR"),
], ids=["cdr-extract", "cdr-train", "cdr-predict", "cdr-scn-train", "cdr-demo"])
def test_help_is_plain_text_with_the_readme_option_names(module, usage, capsys):
    cli = importlib.import_module(f"cdr.cli.{module}")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and usage in text, text


def test_extract_on_an_empty_folder_prints_no_table_path(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert extract_main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "features:" not in captured.out and not (tmp_path / "out").exists()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"cdr-extract: no recordings found under {tmp_path / 'in'}; pass the folder")


def _cohort(folder, cdr, *, sep=","):
    rng = np.random.default_rng(0)
    ids = pd.Index([f"v{i:02d}" for i in range(len(cdr))], name="video_id")
    pd.DataFrame(rng.normal(size=(len(cdr), 4)), index=ids,
                 columns=[f"pupil.f{j}" for j in range(4)]).to_parquet(folder / "features.parquet")
    pd.DataFrame({"video_id": ids, "cdr": cdr}).to_csv(folder / "labels.csv", index=False, sep=sep)
    return [str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"), "-o",
            str(folder / "model"), "--permutations", "0", "--jobs", "1"]


def test_one_class_binary_task_does_not_suggest_binary(tmp_path, capsys):
    args = _cohort(tmp_path, [0.5] * 8)
    assert train.main([*args, "--task", "binary"]) == 1
    err = capsys.readouterr().err
    assert "class CDR >=1 has 0 subject(s)" in err and "add subjects" in err
    assert "--task binary" not in err
    assert train.main([*args, "--task", "cdr3"]) == 1
    assert "use --task binary, or add subjects" in capsys.readouterr().err


def test_semicolon_labels_file_trains(tmp_path, capsys):
    args = _cohort(tmp_path, [0.5] * 4 + [1.0] * 4, sep=";")
    assert train.main([*args, "--task", "binary"]) == 0, capsys.readouterr().err
