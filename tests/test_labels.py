"""Labels CSV: parsing, defaults, and every problem reported at once with exact messages."""

from __future__ import annotations

import pytest

from cdr.errors import LabelError
from cdr.labels import outside_task, read_labels


def write(tmp_path, text: str, name: str = "labels.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def problems(path, table_ids=None) -> list[str]:
    with pytest.raises(LabelError) as info:
        read_labels(path, table_ids)
    return info.value.problems


def test_valid_file_parses_with_defaults(tmp_path):
    p = write(tmp_path, "\ufeffvideo_id,cdr,subject_id\na,0.5,s1\nb, 1 ,\nc,0.5,s1\nd,0,\ne,3,x\n")
    labels = read_labels(p, ["a", "b", "c", "d", "e", "a#flip"])
    assert list(labels.index) == ["a", "b", "c", "d", "e"]
    assert labels["cdr"].tolist() == [0.5, 1.0, 0.5, 0.0, 3.0]
    # subject_id defaults to video_id when the cell (or the column) is empty
    assert labels["subject_id"].tolist() == ["s1", "b", "s1", "d", "x"]
    assert outside_task(labels, (0.5, 1, 2)).to_dict() == {"d": 0.0, "e": 3.0}


def test_subject_column_is_optional(tmp_path):
    p = write(tmp_path, "cdr,video_id\n1,v1\n.5,v2\n")
    labels = read_labels(p)
    assert labels["subject_id"].tolist() == ["v1", "v2"]
    assert labels["cdr"].tolist() == [1.0, 0.5]


def test_every_problem_reported_at_once_with_exact_messages(tmp_path):
    p = write(tmp_path, "video_id,cdr\n"
                        "a,0.5\n"
                        "b,mild\n"
                        "a,1\n"
                        ",2\n"
                        "c,4\n"
                        "d,\n"
                        "e#flip,1\n"
                        "ghost,1\n")
    got = problems(p, ["a", "b", "c", "d", "z", "z#flip", "q#flip"])
    assert got == [
        "line 3 (b): cdr 'mild' is not a number",
        "line 5: video_id is empty",
        "line 6 (c): cdr 4 is not one of 0, 0.5, 1, 2, 3",
        "line 7 (d): cdr is empty",
        "video_id 'a' appears 2 times (lines 2, 4)",
        "augmented ids take the label of their original, remove these rows: e#flip",
        "labelled ids not in the feature table: ghost (a typo, or a recording that failed "
        "extraction: see failures.csv; remove these rows to train without them)",
        "videos in the feature table without a label: z, q#flip (add a row for each to the "
        "labels file)",
    ]
    with pytest.raises(LabelError) as info:
        read_labels(p, ["a", "b", "c", "d", "z", "z#flip", "q#flip"])
    message = str(info.value)
    assert message.startswith(f"{p}: 8 problems in the labels file, fix and rerun: line 3 (b)")
    assert "\n" not in message


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0.25", "5"])
def test_values_outside_the_scale(tmp_path, value):
    p = write(tmp_path, f"video_id,cdr\nv1,{value}\n")
    assert problems(p) == [f"line 2 (v1): cdr {value} is not one of 0, 0.5, 1, 2, 3"]


def test_missing_columns_still_checks_the_rest(tmp_path):
    p = write(tmp_path, "video_id,score\nv1,1\nv1,2\n")
    assert problems(p) == [
        "missing column 'cdr' (found: 'video_id', 'score'); the header must hold video_id, "
        "cdr and optionally subject_id",
        "column 'score' is not known: did you mean 'cdr'? rename it",
        "video_id 'v1' appears 2 times (lines 2, 3)",
    ]
    p = write(tmp_path, "id,grade\nv1,1\n")
    assert problems(p) == [
        "missing columns 'video_id', 'cdr' (found: 'id', 'grade'); the header must hold "
        "video_id, cdr and optionally subject_id",
        "column 'id' is not known: did you mean 'video_id'? rename it",
        "column 'grade' is not known: did you mean 'cdr'? rename it"]


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file(tmp_path, text):
    p = write(tmp_path, text)
    assert problems(p) == ["the file is empty; it needs the header 'video_id,cdr' (and "
                           "optionally 'subject_id') and one row per video"]


def test_header_without_rows(tmp_path):
    p = write(tmp_path, "video_id,cdr\n\n")
    assert problems(p) == ["the file has a header but no rows; add one row per video"]


def test_missing_file_names_it(tmp_path):
    with pytest.raises(LabelError, match="nope.csv: 1 problem in the labels file, fix and "
                                         "rerun: file not found; pass the labels CSV"):
        read_labels(tmp_path / "nope.csv")


def test_long_id_lists_are_cut(tmp_path):
    rows = "".join(f"x{i},1\n" for i in range(13))
    p = write(tmp_path, "video_id,cdr\n" + rows)
    (msg,) = problems(p, [])
    assert msg.startswith("labelled ids not in the feature table: x0, x1, x2, x3, x4, x5, x6, "
                          "x7, x8, x9 (and 3 more)")


@pytest.mark.parametrize("name", ["subject", "Subject_ID", "patient_id", "subject id", "subjct_id",
                                  "Participant"])
def test_near_misses_of_subject_id_are_refused_with_the_right_name(tmp_path, name):
    """Ignoring such a column would evaluate leave-one-video-out while claiming leave-one-subject-out."""
    p = write(tmp_path, f"video_id,cdr,{name}\nv1,1,s1\nv2,1,s1\n")
    assert problems(p) == [f"column '{name}' is not known: did you mean 'subject_id'? rename it"]


def test_unknown_columns_are_refused(tmp_path):
    p = write(tmp_path, "video_id,CDR,age,subject_id\nv1,1,71,s1\n")
    assert problems(p) == [
        "missing column 'cdr' (found: 'video_id', 'CDR', 'age', 'subject_id'); the header must "
        "hold video_id, cdr and optionally subject_id",
        "column 'CDR' is not known: did you mean 'cdr'? rename it",
        "column 'age' is not known: remove it (the labels file holds only video_id, cdr and "
        "optionally subject_id)"]


def test_one_subject_with_two_cdr_values_is_refused_naming_both(tmp_path):
    p = write(tmp_path, "video_id,cdr,subject_id\nv1,0.5,s1\nv2,1,s1\nv3,1,s1\nv4,2,s2\nv5,2,s2\n")
    assert problems(p) == ["subject 's1' has 2 different CDR values: 0.5 (v1) and 1 (v2, v3); a subject "
                           "has one CDR, fix the labels or keep one visit's recordings"]


@pytest.mark.parametrize("sep", [";", "\t"], ids=["semicolon", "tab"])
def test_semicolon_and_tab_separated_files_are_read(tmp_path, sep):
    p = write(tmp_path, sep.join(["video_id", "cdr", "subject_id"]) + "\n"
              + sep.join(["v1", "0,5", "s1"]) + "\n" + sep.join(["v2", "2", "s2"]) + "\n")
    labels = read_labels(p, ["v1", "v2"])
    assert labels["cdr"].tolist() == [0.5, 2.0]
    assert labels["subject_id"].tolist() == ["s1", "s2"]
