"""Submission validation as the grader does it (``grader.validate.read_submission``: the byte cap, binary files,
the fast path, over ``starter_code.formats.parse_submission``): every accepted and rejected case, asserting on the
message and its line/column/ID."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.errors import SubmissionError
from grader import validate
from grader.validate import HEADER, MAX_SUBMISSION_BYTES, read_submission

N = 5
SCORES = np.array([0.5, -1.25, 3.0, 1e-5, 42.0])


def csv_bytes(rows, header=HEADER, end="\n") -> bytes:
    lines = ([header] if header is not None else []) + [",".join(map(str, r)) for r in rows]
    return (end.join(lines) + end).encode()


GOOD = csv_bytes([(i, repr(float(s))) for i, s in enumerate(SCORES)])


def reject(data, n=N, **kw) -> SubmissionError:
    with pytest.raises(SubmissionError) as info:
        read_submission(data, n, **kw)
    return info.value


# --- accepted -------------------------------------------------------------------------------------------------

def test_plain_file_from_path(tmp_path):
    p = tmp_path / "sub.csv"
    p.write_bytes(GOOD)
    out = read_submission(p, N)
    assert out.dtype == np.float64 and out.shape == (N,)
    np.testing.assert_array_equal(out, SCORES)
    np.testing.assert_array_equal(read_submission(str(p), N), SCORES)


def test_rows_in_any_order_are_indexed_by_id():
    rows = [(i, repr(float(SCORES[i]))) for i in (3, 0, 4, 1, 2)]
    np.testing.assert_array_equal(read_submission(csv_bytes(rows), N), SCORES)


@pytest.mark.parametrize("name,data", [
    ("bom", b"\xef\xbb\xbf" + GOOD),
    ("crlf", GOOD.replace(b"\n", b"\r\n")),
    ("cr only", GOOD.replace(b"\n", b"\r")),
    ("no final newline", GOOD.rstrip(b"\n")),
    ("blank lines", GOOD.replace(b"\n2,", b"\n\n  \n2,") + b"\n\n"),
    ("quoted fields", csv_bytes([(f'"{i}"', f'"{s!r}"') for i, s in enumerate(SCORES.tolist())],
                                header='"ID","score"')),
    ("whitespace", csv_bytes([(f"  {i} ", f" {s!r}  ") for i, s in enumerate(SCORES.tolist())],
                             header=" ID , score ")),
    ("header case", csv_bytes([(i, repr(s)) for i, s in enumerate(SCORES.tolist())], header="id,Score")),
    ("columns swapped", csv_bytes([(repr(s), i) for i, s in enumerate(SCORES.tolist())], header="score,ID")),
    ("scientific", csv_bytes([(i, f"{s:.17e}") for i, s in enumerate(SCORES.tolist())])),
    ("ids as 2.0", csv_bytes([(f"{i}.0", repr(s)) for i, s in enumerate(SCORES.tolist())])),
])
def test_accepted_variants(name, data):
    np.testing.assert_array_equal(read_submission(data, N), SCORES, err_msg=name)


def test_integer_scores():
    out = read_submission(csv_bytes([(i, 10 - i) for i in range(N)]), N)
    np.testing.assert_array_equal(out, 10.0 - np.arange(N))


def test_float32_scores_as_pandas_writes_them():
    s32 = np.random.default_rng(0).random(N).astype(np.float32) / 3
    buf = io.StringIO()
    pd.DataFrame({"ID": np.arange(N), "score": s32}).to_csv(buf, index=False)
    text = buf.getvalue()
    assert "e-" in text or len(text.splitlines()[1]) < 15  # short float32 reprs, not float64 expansions
    out = read_submission(text.encode(), N)
    # The text is float32's shortest repr: read as float64 it is that decimal, and it rounds back exactly.
    np.testing.assert_array_equal(out, [float(line.split(",")[1]) for line in text.splitlines()[1:]])
    np.testing.assert_array_equal(out.astype(np.float32), s32)


def test_pandas_written_submission_with_crlf_and_shuffle_round_trips():
    rng = np.random.default_rng(1)
    n = 300
    s = rng.normal(size=n)
    order = rng.permutation(n)
    buf = io.StringIO()
    pd.DataFrame({"ID": order, "score": s[order]}).to_csv(buf, index=False, lineterminator="\r\n")
    np.testing.assert_array_equal(read_submission(buf.getvalue().encode(), n), s)


# --- rejected: the file itself --------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    e = reject(tmp_path / "nope.csv")
    assert "not found" in e.message and "nope.csv" in e.message


def test_directory(tmp_path):
    assert "folder" in reject(tmp_path).message


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"])
def test_empty_file(data):
    e = reject(data)
    assert "empty" in e.message and HEADER in e.message


def test_header_only():
    e = reject(b"ID,score\n")
    assert "no data rows" in e.message and "expected 5 rows" in e.message


def test_oversized_bytes_and_file(tmp_path):
    e = reject(GOOD, max_bytes=len(GOOD) - 1)
    assert "limit" in e.message
    p = tmp_path / "big.csv"
    p.write_bytes(GOOD + b" " * 100)
    assert "limit" in reject(p, max_bytes=len(GOOD)).message
    assert len(GOOD) < MAX_SUBMISSION_BYTES
    read_submission(p, N, max_bytes=len(GOOD) + 100)  # at the cap exactly: accepted


def test_non_utf8_names_the_line():
    data = GOOD.replace(b"2,3.0", b"2,3.0\xe9")  # Latin-1 'é' on the line of ID 2 (line 4)
    assert data != GOOD
    e = reject(data)
    assert e.line == 4 and "not UTF-8" in e.message and "0xe9" in e.message


@pytest.mark.parametrize("data,what", [
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'", "NumPy"),
    (b"PK\x03\x04\x14\x00\x06\x00", "xlsx"),
    (b"ID,score\n0,1\x00\x00\x00\x00", "binary"),
    ("ID,score\n0,1\n".encode("utf-16"), "UTF-16"),
])
def test_binary_or_wrong_encoding(data, what):
    e = reject(data)
    assert what in e.message
    assert "to_csv('submission.csv', index=False)" in e.message  # says how to write it properly


# --- rejected: header --------------------------------------------------------------------------------------------

def test_missing_header_is_recognised_as_data():
    e = reject(csv_bytes([(i, 0.5) for i in range(N)], header=None))
    assert e.line == 1 and "header" in e.message and "'0,0.5'" in e.message


def test_wrong_header():
    e = reject(csv_bytes([(i, 0.5) for i in range(N)], header="image,anomaly"))
    assert e.line == 1 and "wrong header" in e.message and "'image,anomaly'" in e.message


def test_id_column_missing():
    e = reject(csv_bytes([(i, 0.5) for i in range(N)], header="index,score"))
    assert e.column == "ID" and "no 'ID' column" in e.message and "'index,score'" in e.message


def test_score_column_missing():
    e = reject(csv_bytes([(i, 0.5) for i in range(N)], header="ID,prediction"))
    assert e.column == "score" and "no 'score' column" in e.message


def test_repeated_column():
    e = reject(csv_bytes([(i, 0.5, 0.5) for i in range(N)], header="ID,score,Score"))
    assert "appears twice" in e.message


def test_extra_columns_are_named():
    e = reject(csv_bytes([(i, 0.5, 0, "x") for i in range(N)], header="ID,score,label,kind"))
    assert e.line == 1 and e.column == "label"
    assert "'label', 'kind'" in e.message and "exactly the columns" in e.message


def test_dataframe_index_column_gets_a_hint():
    buf = io.StringIO()
    pd.DataFrame({"ID": range(N), "score": SCORES}).to_csv(buf)  # forgot index=False
    e = reject(buf.getvalue().encode())
    assert "unnamed column" in e.message and "index=False" in e.message


def test_trailing_comma_in_header():
    e = reject(csv_bytes([(i, 0.5, "") for i in range(N)], header="ID,score,"))
    assert "trailing comma" in e.message


@pytest.mark.parametrize("sep,word", [(";", "semicolons"), ("\t", "tabs")])
def test_other_separators(sep, word):
    data = GOOD.replace(b",", sep.encode())
    e = reject(data)
    assert e.line == 1 and word in e.message and "commas" in e.message


# --- rejected: rows ----------------------------------------------------------------------------------------------

def test_not_a_number_names_line_column_id():
    rows = [(i, 0.5) for i in range(N)]
    rows[3] = (3, "abc")
    e = reject(csv_bytes(rows))
    assert (e.line, e.column, e.id) == (5, "score", 3)
    assert str(e) == ("line 5, column 'score', ID 3: 'abc' is not a number; write ASCII digits 0-9 with an "
                      "optional sign, decimal point and exponent (e.g. 0.25, -3, 1.5e-05)")


@pytest.mark.parametrize("bad", ["np.float64(0.25)", "tensor(0.2500)"])
def test_repr_of_numpy_or_torch_scalars_gets_a_hint(bad):
    rows = [(i, 0.5) for i in range(N)]
    rows[0] = (0, bad)
    e = reject(csv_bytes(rows))
    assert (e.line, e.id) == (2, 0) and "is not a number" in e.message and "float(x)" in e.message


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"])
def test_nan_and_inf_are_rejected(bad):
    rows = [(i, 0.5) for i in range(N)]
    rows[2] = (2, bad)
    e = reject(csv_bytes(rows))
    assert (e.line, e.column, e.id) == (4, "score", 2) and "not a finite number" in e.message


def test_empty_score():
    rows = [(i, 0.5) for i in range(N)]
    rows[1] = (1, "")
    e = reject(csv_bytes(rows))
    assert (e.line, e.column, e.id) == (3, "score", 1) and "empty" in e.message


@pytest.mark.parametrize("bad,words", [("x7", "not a whole number"), ("2.5", "not a whole number"),
                                       ("", "ID is empty")])
def test_bad_ids(bad, words):
    rows = [(i, 0.5) for i in range(N)]
    rows[2] = (bad, 0.5)
    e = reject(csv_bytes(rows))
    assert (e.line, e.column) == (4, "ID") and words in e.message


def test_wrong_number_of_fields_on_a_row():
    rows = [(i, 0.5) for i in range(N)]
    rows[4] = (4, 0.5, 7)
    e = reject(csv_bytes(rows))
    assert e.line == 6 and "expected 2 values" in e.message and "found 3" in e.message


def test_trailing_comma_on_rows():
    e = reject(csv_bytes([(i, 0.5, "") for i in range(N)]))
    assert e.line == 2 and "trailing comma" in e.message


def test_unclosed_quote():
    e = reject(b'ID,score\n0,"0.5\n1,0.5\n')
    assert "unclosed double quote" in e.message


def test_nul_byte_late_in_the_file():
    # Past the binary sniffing window: the row itself is reported, control character made visible.
    data = b"ID,score\n" + b"".join(f"{i},0.5\n".encode() for i in range(999)) + b"999,0.\x005\n"
    e = reject(data, n=1000)
    assert (e.line, e.column, e.id) == (1001, "score", 999)
    assert "'0.\\x005' is not a number" in e.message


def test_duplicate_ids_name_both_lines():
    rows = [(0, 0.1), (1, 0.2), (2, 0.3), (1, 0.4), (3, 0.5)]
    e = reject(csv_bytes(rows))
    assert (e.line, e.column, e.id) == (5, "ID", 1)
    assert "appears more than once" in e.message and "lines 3 and 5" in e.message


def test_unknown_id():
    rows = [(i, 0.5) for i in range(N)]
    rows[2] = (77, 0.5)
    e = reject(csv_bytes(rows))
    assert (e.line, e.id) == (4, 77) and "not a test image ID" in e.message and "0 to 4" in e.message


def test_id_beyond_int64():
    rows = [(i, 0.5) for i in range(N)]
    rows[1] = (10**30, 0.5)
    e = reject(csv_bytes(rows))
    assert (e.line, e.column) == (3, "ID") and "not a test image ID" in e.message


def test_negative_id():
    rows = [(i, 0.5) for i in range(N)]
    rows[0] = (-1, 0.5)
    assert reject(csv_bytes(rows)).id == -1


def test_ids_starting_at_one_get_a_hint():
    e = reject(csv_bytes([(i + 1, 0.5) for i in range(N)]))
    assert e.id == N and "start at 1" in e.message


def test_missing_ids():
    rows = [(i, 0.5) for i in range(N) if i not in (1, 3)]
    e = reject(csv_bytes(rows))
    assert e.id == 1 and "2 ID(s) missing: 1, 3" in e.message


def test_wrong_row_count_lists_a_few_missing_ids():
    e = reject(csv_bytes([(i, 0.5) for i in range(20)]), n=100)
    assert "found 20 data rows, expected 100" in e.message
    assert "80 ID(s) missing: 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, ..." in e.message


def test_nothing_is_lost_from_a_message():
    # The structured fields and the rendered text agree, so the web app can show either.
    rows = [(i, 0.5) for i in range(N)]
    rows[3] = (3, "oops")
    d = reject(csv_bytes(rows)).to_dict()
    assert d["line"] == 5 and d["column"] == "score" and d["id"] == 3 and "'oops'" in d["detail"]


@pytest.mark.parametrize("bad, why", [("1_000", "no '_' separators"), ("\u0661\u0662", "Arabic-Indic digits"),
                                      ("\uff11\uff12", "full-width digits")])
@pytest.mark.parametrize("column", ["score", "ID"])
def test_strict_number_grammar_refuses_what_float_and_int_would_read(bad, why, column):
    rows = [(i, 0.5) for i in range(N)]
    rows[2] = (bad, 0.5) if column == "ID" else (2, bad)
    e = reject(csv_bytes(rows))
    assert (e.line, e.column) == (4, column) and "ASCII digits 0-9" in e.message
    if column == "score":
        assert why in e.message and e.id == 2


# --- the fast path and the careful path agree ----------------------------------------------------------------

def both_paths(data: bytes, n: int):
    """(the fast path's result or error message, the careful path's result or error message)."""
    out = []
    for fast in (True, False):
        try:
            out.append(read_submission(data, n, fast=fast))
        except SubmissionError as e:
            out.append(str(e))
    return tuple(out)


def test_fast_path_is_taken_for_plain_files(monkeypatch):
    def careful(*args, **kw):
        raise AssertionError("the careful path was taken")
    monkeypatch.setattr(validate, "parse_submission", careful)
    np.testing.assert_array_equal(read_submission(GOOD, N), SCORES)
    with pytest.raises(AssertionError, match="careful path"):
        read_submission(GOOD.replace(b"0.5", b"0_5"), N)  # anything unusual goes the careful way


_token = st.one_of(
    st.integers(-3, 8).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.8g}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.6E}"),
    st.text(alphabet="0123456789.-+eE ", max_size=6),
    st.sampled_from(["1_000", "\u0661", "\uff11\uff12", "0x1", "nan", "-inf", "1e999", "15.0"]),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(_token, _token), min_size=1, max_size=8),
       crlf=st.booleans())
def test_fast_path_never_disagrees_with_the_careful_path(rows, crlf):
    data = csv_bytes(rows, end="\r\n" if crlf else "\n")
    for n in (len(rows), 4):
        fast, careful = both_paths(data, n)
        if isinstance(careful, str):
            assert fast == careful  # the same error, with the same line, column and ID
        else:
            np.testing.assert_array_equal(fast, careful)


@settings(max_examples=100, deadline=None)
@given(scores=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30),
       data=st.data())
def test_any_permutation_of_valid_rows_round_trips(scores, data):
    n = len(scores)
    order = data.draw(st.permutations(range(n)))
    fmt = data.draw(st.sampled_from([repr, lambda f: f"{f:.17e}", lambda f: f" {f!r} "]))
    got = read_submission(csv_bytes([(i, fmt(scores[i])) for i in order]), n)
    np.testing.assert_array_equal(got, np.array(scores, dtype=np.float64))
