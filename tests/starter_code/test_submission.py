import numpy as np
import pandas as pd
import pytest

from starter_code.formats import SUBMISSION_COLUMNS, SUBMISSION_FILENAME, SubmissionError
from starter_code.submission import read_submission_scores, write_submission

SCORES = np.array([11383.0, 256676.5, 862365.25, 152435.0, 848171.125])  # the slides' example, plus fractions


def course_write(scores, path):
    """What the course's sample code does with its (M, 1) float32 anomaly array."""
    df = pd.DataFrame(scores, columns=["score"])
    df.to_csv(path, index_label="ID")


def test_format_is_the_courses(tmp_path):
    path = write_submission(SCORES, tmp_path / SUBMISSION_FILENAME)
    assert path == tmp_path / "prediction.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(SUBMISSION_COLUMNS) == "ID,score"
    assert lines[1:] == ["0,11383.0", "1,256676.5", "2,862365.25", "3,152435.0", "4,848171.125"]
    course_write(SCORES, tmp_path / "course.csv")
    assert path.read_bytes() == (tmp_path / "course.csv").read_bytes()


def test_course_float32_column_is_written_identically(tmp_path):
    # the course's scores are a float32 (M, 1) array: accepted as is, and the bytes match the course's file
    scores = (np.random.default_rng(0).random((50, 1)) * 100).astype(np.float32)
    write_submission(scores, tmp_path / "ours.csv")
    course_write(scores, tmp_path / "course.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "course.csv").read_bytes()
    # pandas writes float32's shortest repr, which reads back to the same float32 value
    np.testing.assert_array_equal(read_submission_scores(tmp_path / "course.csv").astype(np.float32), scores[:, 0])


def test_round_trip_is_exact(tmp_path):
    scores = np.random.default_rng(1).normal(size=1000) * 1e3
    path = write_submission(scores, tmp_path / "sub" / "prediction.csv", expected_rows=1000)  # makes folders
    np.testing.assert_array_equal(read_submission_scores(path, expected_rows=1000), scores)
    df = pd.read_csv(path)
    assert list(df.columns) == ["ID", "score"] and df["ID"].tolist() == list(range(1000))
    np.testing.assert_array_equal(df["score"].to_numpy(), scores)


def test_integers_and_lists_are_accepted(tmp_path):
    path = write_submission([3, 1, 2], tmp_path / "p.csv")
    np.testing.assert_array_equal(read_submission_scores(path), [3.0, 1.0, 2.0])


@pytest.mark.parametrize("scores, message", [
    (np.zeros((3, 2)), r"1-D .* got shape \(3, 2\)"),
    (np.zeros(0), "empty"),
    (np.array(["a", "b"]), "must be numbers"),
    (np.array([1.0, np.nan, 2.0, np.inf]), r"column 'score', ID 1: 2 score\(s\) are not finite .* ID\(s\) 1, 3"),
    ([[1, 2], [3]], "cannot be read as an array"),
])
def test_bad_scores_are_refused_before_writing(tmp_path, scores, message):
    path = tmp_path / "prediction.csv"
    with pytest.raises(SubmissionError, match=message):
        write_submission(scores, path)
    assert not path.exists()


def test_expected_rows(tmp_path):
    with pytest.raises(SubmissionError, match="expected 4 scores .* got 5"):
        write_submission(SCORES, tmp_path / "p.csv", expected_rows=4)
    path = write_submission(SCORES, tmp_path / "p.csv")
    with pytest.raises(SubmissionError, match="found 5 data rows, expected 6"):
        read_submission_scores(path, expected_rows=6)


@pytest.mark.parametrize("text, where, message", [
    ("", None, "file is empty"),
    ("id,score\n0,1\n", "line 1", "header must be exactly 'ID,score', found 'id,score'"),
    ("ID,score,extra\n0,1,2\n", "line 1, column 'extra'", "extra column(s) 'extra'"),
    ("ID,score\n0,1\n2,3\n", "line 3, column 'ID', ID 2", "in order; expected 1, found 2"),
    ("ID,score\n0,1\nx,3\n", "line 3, column 'ID'", "'x' is not a whole number"),
    ("ID,score\n0,1\n1,abc\n", "line 3, column 'score', ID 1", "'abc' is not a number"),
    ("ID,score\n0,1\n1,1_000\n", "line 3, column 'score', ID 1", "no '_' separators"),
    ("ID,score\n0,1\n1,nan\n", "line 3, column 'score', ID 1", "'nan' is not a finite number"),
    ("ID,score\n0,1\n1\n", "line 3", "expected 2 values"),
    ("ID,score\n", None, "header but no data rows"),
])
def test_read_errors_say_where(tmp_path, text, where, message):
    path = tmp_path / "prediction.csv"
    path.write_text(text)
    with pytest.raises(SubmissionError) as e:
        read_submission_scores(path)
    assert message in e.value.message
    assert e.value.file == str(path) and str(e.value).startswith(str(path))
    if where:
        assert str(e.value).startswith(f"{path}, {where}: ")


def test_what_the_grader_accepts_the_students_check_accepts_in_its_own_format(tmp_path):
    from grader.validate import read_submission
    path = write_submission(SCORES, tmp_path / "p.csv")
    np.testing.assert_array_equal(read_submission_scores(path), read_submission(path, len(SCORES)))


def test_read_tolerates_bom_crlf_and_blank_tail(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbfID,score\r\n0,0.5\r\n1,-2e3\r\n\r\n")
    np.testing.assert_array_equal(read_submission_scores(path), [0.5, -2000.0])
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_submission_scores(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"ID,score\n0,\xff\n")
    with pytest.raises(SubmissionError, match="not UTF-8"):
        read_submission_scores(tmp_path / "bin.csv")
