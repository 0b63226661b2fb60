"""``starter_code.formats``: the one definition of the image arrays, the submission file and its number grammar,
the stage names, the course seed and smoke mode. The grader's side of reading files is in tests/grader."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from starter_code import formats
from starter_code.formats import (COURSE_SEED, SMOKE, STAGES, ImageFileError, SubmissionError, check_images,
                                  load_images, parse_number, parse_submission)


# -- images ---------------------------------------------------------------------------------------------------------

def test_load_images_round_trip_and_mmap(tmp_path, random_images):
    path = tmp_path / "trainingset.npy"
    np.save(path, random_images)
    assert np.array_equal(load_images(path), random_images)
    mapped = load_images(path, mmap=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, random_images)


def test_load_images_accepts_pickled_object_arrays(tmp_path, random_images):
    path = tmp_path / "testingset.npy"
    obj = np.empty(len(random_images), dtype=object)
    for i, img in enumerate(random_images):
        obj[i] = img
    np.save(path, obj, allow_pickle=True)
    assert np.array_equal(load_images(path), random_images)


def test_load_images_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy: image file not found"):
        load_images(tmp_path / "nope.npy")
    cases = {
        "float.npy": (np.zeros((2, 64, 64, 3), np.float32), "expected dtype uint8, got float32"),
        "chw.npy": (np.zeros((2, 3, 64, 64), np.uint8), r"channels-first\?"),
        "one.npy": (np.zeros((64, 64, 3), np.uint8), r"single image\?"),
        "small.npy": (np.zeros((2, 32, 32, 3), np.uint8), r"got \(2, 32, 32, 3\)"),
        "dicts.npy": (np.array([{"a": 1}], dtype=object), "expected dtype uint8, got object"),
    }
    for name, (arr, msg) in cases.items():
        np.save(tmp_path / name, arr, allow_pickle=True)
        with pytest.raises(ImageFileError, match=rf"{name}.*{msg}"):
            load_images(tmp_path / name)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ImageFileError, match="junk.npy: not a .npy file"):
        load_images(tmp_path / "junk.npy")
    with open(tmp_path / "ragged.npy", "wb") as f:
        np.save(f, np.array([np.zeros((64, 64, 3), np.uint8), np.zeros((3,), np.uint8)], dtype=object),
                allow_pickle=True)
    with pytest.raises(ImageFileError, match="ragged.npy: object array"):
        load_images(tmp_path / "ragged.npy")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "float.npy").read_bytes()[:200])
    with pytest.raises(ImageFileError, match="cut.npy: not a readable .npy file"):
        load_images(tmp_path / "cut.npy")
    np.savez(tmp_path / "arch.npz", a=np.zeros(3))
    with pytest.raises(ImageFileError, match="arch.npz: is an .npz archive"):
        load_images(tmp_path / "arch.npz")


def test_min_images_refuses_an_empty_set(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 64, 64, 3), np.uint8))
    assert load_images(tmp_path / "e.npy").shape == (0, 64, 64, 3)  # students may score nothing
    with pytest.raises(ImageFileError, match="e.npy: holds 0 images, expected at least 1"):
        load_images(tmp_path / "e.npy", min_images=1)


def test_check_images_names_the_argument_and_takes_tensors():
    with pytest.raises(ImageFileError, match="test images: expected a numpy array"):
        check_images([[1, 2]], "test images")
    assert check_images(torch.zeros(1, 64, 64, 3, dtype=torch.uint8)).shape == (1, 64, 64, 3)
    with pytest.raises(ImageFileError, match="channels-first"):
        check_images(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_the_data_tools_use_the_same_image_contract():
    import data_tools.io
    assert data_tools.io.check_images is check_images and data_tools.io.load_images is load_images
    assert data_tools.io.IMAGE_SHAPE is formats.IMAGE_SHAPE
    assert (data_tools.io.TRAIN_FILE, data_tools.io.TEST_FILE) == ("trainingset.npy", "testingset.npy")


# -- numbers --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("0", 0.0), ("-3", -3.0), ("+2.5", 2.5), (".5", 0.5), ("5.", 5.0),
                                         ("1.5e-05", 1.5e-05), ("1E+3", 1000.0), (" 7 ", 7.0),
                                         ("0.30000001192092896", 0.30000001192092896)])
def test_the_number_grammar_accepts_what_csv_writers_write(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text, why", [
    ("1_000", "no '_' separators"),
    ("\u0661\u0662", "Arabic-Indic digits"),           # what float() reads as 12
    ("\u06f1\u06f2", "Extended Arabic-Indic digits"),
    ("\uff11\uff12", "full-width digits"),
    ("\u0967", "Devanagari digits"),
    ("1,5", "not a number"), ("e5", "not a number"), ("1e", "not a number"), ("--1", "not a number"),
    ("0x10", "not a number"), ("1 2", "not a number"), ("", "empty"),
])
def test_the_number_grammar_refuses_what_float_would_take_and_says_why(text, why):
    with pytest.raises(ValueError, match=why) as e:
        parse_number(text)
    if text.strip():
        assert "ASCII digits 0-9" in str(e.value) or "plain numbers" in str(e.value)


def test_nan_and_infinity_are_numbers_but_never_finite_scores():
    assert np.isnan(parse_number("NaN")) and parse_number("-inf") == -np.inf
    e = _reject("ID,score\n0,1\n1,inf\n", 2)
    assert (e.line, e.column, e.id) == (3, "score", 1) and "'inf' is not a finite number" in e.message


# -- the submission file: strict (students' own check) and lenient (the grader) -------------------------------------

def _reject(text: str, n: int | None, strict: bool = False) -> SubmissionError:
    with pytest.raises(SubmissionError) as info:
        parse_submission(text, n, strict=strict)
    return info.value


@pytest.mark.parametrize("name, text", [
    ("header case", "id,Score\n0,1\n1,2\n"),
    ("columns swapped", "score,ID\n1,0\n2,1\n"),
    ("rows in any order", "ID,score\n1,2\n0,1\n"),
    ("integral decimal IDs", "ID,score\n0.0,1\n1.0,2\n"),
])
def test_the_grader_accepts_what_the_students_check_refuses(name, text):
    np.testing.assert_array_equal(parse_submission(text, 2), [1.0, 2.0])
    e = _reject(text, 2, strict=True)
    assert e.line in (1, 2, 3) and e.message


def test_strict_mode_says_what_it_expects():
    assert "must be exactly 'ID,score', found 'id,Score'" in _reject("id,Score\n0,1\n", None, True).message
    e = _reject("ID,score\n1,2\n0,1\n", None, True)
    assert (e.line, e.column, e.id) == (2, "ID", 1) and "0, 1, 2, ... in order; expected 0, found 1" in e.message
    e = _reject("ID,score\n0,1\n1.0,2\n", None, True)
    assert (e.line, e.column) == (3, "ID") and "'1.0' is not a whole number" in e.message
    np.testing.assert_array_equal(parse_submission("ID,score\n0,1\n1,2\n", strict=True), [1.0, 2.0])
    assert "expected 3" in _reject("ID,score\n0,1\n1,2\n", 3, True).message


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("score, why", [("1_000", "no '_' separators"), ("\u0661", "Arabic-Indic digits"),
                                        ("\uff11", "full-width digits"), ("abc", "is not a number")])
def test_both_modes_refuse_numbers_outside_the_grammar_with_the_place(strict, score, why):
    e = _reject(f"ID,score\n0,1\n1,{score}\n", 2, strict)
    assert (e.line, e.column, e.id) == (3, "score", 1) and why in e.message


@pytest.mark.parametrize("strict", [False, True])
def test_ids_follow_the_grammar_too(strict):
    e = _reject("ID,score\n0,1\n\u0661,2\n", 2, strict)  # int() would read this as 1
    assert (e.line, e.column) == (3, "ID") and "ASCII digits" in e.message


def test_submission_error_names_the_file_when_a_reader_knows_it():
    e = SubmissionError("'x' is not a number", line=3, column="score", id=1)
    assert str(e) == "line 3, column 'score', ID 1: 'x' is not a number"
    e.file = "prediction.csv"
    assert str(e) == "prediction.csv, line 3, column 'score', ID 1: 'x' is not a number"
    assert e.to_dict()["line"] == 3 and e.to_dict()["detail"] == str(e)


# -- the course -----------------------------------------------------------------------------------------------------

def test_one_seed_one_list_of_stages_one_smoke():
    from starter_code import TrainConfig
    from starter_code.notebook import NotebookEnv
    assert COURSE_SEED == 48763 and TrainConfig().seed == COURSE_SEED
    assert STAGES == ("simple", "medium", "strong", "boss")
    smoke = TrainConfig(epochs=50, batch_size=2000).smoke()
    assert (smoke.epochs, smoke.batch_size) == (SMOKE.epochs, SMOKE.batch_size)
    env = NotebookEnv(data_dir=".", smoke=True)
    assert env.smoke_sizes is SMOKE and env.smoke_training() == SMOKE.training()


def test_formats_imports_no_torch():
    code = ("import sys, starter_code.formats, starter_code.config, starter_code.submission, starter_code\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_smoke_sized_submission_is_refused_with_a_hint_at_smoke_mode():
    def csv(rows):
        return "ID,score\n" + "".join(f"{i},{i / 7}\n" for i in range(rows))

    with pytest.raises(SubmissionError, match=r"found 256 data rows, expected 4000 .*256 rows is what a notebook "
                                              r"writes in smoke mode \(HW8_SMOKE=1, prediction_smoke.csv\)"):
        formats.parse_submission(csv(SMOKE.n_test), 4000)
    with pytest.raises(SubmissionError) as e:  # another short file: no smoke hint
        formats.parse_submission(csv(SMOKE.n_test - 1), 4000)
    assert "smoke" not in str(e.value)
