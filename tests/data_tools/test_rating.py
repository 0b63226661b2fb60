"""The blind rating protocol (``data_tools.rating``): sheets, hidden keys, results and the errors a rater can make."""
from __future__ import annotations

import csv

import pytest
from PIL import Image

from data_tools import rating
from data_tools.cli import main
from data_tools.io import DatasetError


def _fill(sheets, kind: str, answer_of) -> None:
    """Answer every cell of ``kind``'s sheet with ``answer_of(true kind of the cell, cell)``."""
    with open(sheets / "key" / f"{kind}.csv", newline="", encoding="utf-8") as f:
        truth = {int(r["cell"]): r["kind"] for r in csv.DictReader(f)}
    with open(sheets / f"{kind}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["cell", "answer", "note"])
        w.writerows([c, answer_of(k, c), ""] for c, k in sorted(truth.items()))


@pytest.fixture()
def sheets(tiny_dataset, tmp_path):
    p = tiny_dataset.paths
    rating.write_sheets(p.data, p.answers, tmp_path / "rate", per_kind=64, normal=4, seed=3)
    return tmp_path / "rate"


def test_sheets_mix_the_kind_with_normal_faces_and_keep_the_key_apart(tiny_dataset, sheets):
    key = tiny_dataset.key
    near = [k for k in rating.QUESTIONS if (key.kinds == k).any()]
    assert near and sorted({p.stem.rsplit("-", 1)[0] for p in sheets.glob("*.png")}) == sorted(near)
    for kind in near:
        with open(sheets / "key" / f"{kind}.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        n_kind = int((key.kinds == kind).sum())
        assert [r["kind"] for r in rows].count(kind) == min(64, n_kind)       # every image of the kind, at most 64
        assert [r["kind"] for r in rows].count("normal") == 4
        ids = [int(r["id"]) for r in rows]
        assert len(set(ids)) == len(ids) and all(key.kinds[i] == r["kind"] for i, r in zip(ids, rows))
        with open(sheets / f"{kind}.csv", newline="", encoding="utf-8") as f:
            sheet = list(csv.reader(f))
        assert sheet[0] == ["cell", "answer"] and [r[0] for r in sheet[1:]] == [str(c) for c in
                                                                                range(1, len(rows) + 1)]
        assert all(r[1] == "" for r in sheet[1:])                          # the sheet tells nothing about the key
        assert (sheets / "key" / f"{kind}.csv").stat().st_mode & 0o777 == 0o600
        pages = sorted(sheets.glob(f"{kind}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        assert [p.name for p in pages] == [f"{kind}-{i}.png" for i in range(1, -(-len(rows) // rating.PAGE) + 1)]
        for page in pages:       # shown whole (at most ~800 px a side), each image three times its size
            width, height = Image.open(page).size
            assert 4 * 192 < width <= 800 and height <= 800
    # the same seed draws the same sample in the same order; another seed another order
    again = sheets.parent / "again"
    rating.write_sheets(tiny_dataset.paths.data, tiny_dataset.paths.answers, again, per_kind=64, normal=4, seed=3)
    assert (again / "key" / f"{near[0]}.csv").read_text() == (sheets / "key" / f"{near[0]}.csv").read_text()
    # a shorter sheet written over a longer one leaves none of its pages
    long = rating.write_sheets(tiny_dataset.paths.data, tiny_dataset.paths.answers, again, kinds=[near[0]], normal=40)
    short = rating.write_sheets(tiny_dataset.paths.data, tiny_dataset.paths.answers, again, kinds=[near[0]],
                                per_kind=4, normal=2)
    assert len(long[near[0]]) >= 3 and short[near[0]] == [again / f"{near[0]}-1.png"]
    assert sorted(again.glob(f"{near[0]}-*.png")) == short[near[0]]


def test_results_count_yes_unsure_no_and_the_normal_faces(tiny_dataset, sheets):
    kinds = sorted({p.stem.rsplit("-", 1)[0] for p in sheets.glob("*.png")})
    for kind in kinds:
        _fill(sheets, kind, lambda true, cell: ("yes" if true == kind else "no") if cell != 1 else "unsure")
    res = {r.kind: r for r in rating.read_results(sheets)}
    assert sorted(res) == kinds
    for kind, r in res.items():
        assert r.n == min(64, int((tiny_dataset.key.kinds == kind).sum())) and r.normal == 4 and r.normal_yes == 0
        assert r.unsure <= 1 and r.yes + r.unsure == r.n and r.no == 0
    # a rater who sees the attribute in every normal face too: no kind passes
    for kind in kinds:
        _fill(sheets, kind, lambda true, cell: "yes")
    assert not any(r.passed for r in rating.read_results(sheets))
    table = rating.format_results(rating.read_results(sheets))
    assert all(f"| {k} |" in table for k in kinds) and "4 of 4" in table


def test_a_kind_passes_at_90_percent_yes_and_few_normal_yes():
    assert rating.KindResult("glasses", yes=58, unsure=4, no=2, normal_yes=1, normal=16).passed      # 90.6 %
    assert not rating.KindResult("glasses", yes=57, unsure=5, no=2, normal_yes=0, normal=16).passed  # 89.1 %
    assert not rating.KindResult("glasses", yes=64, unsure=0, no=0, normal_yes=2, normal=16).passed  # 12.5 % normal
    assert not rating.KindResult("glasses", yes=0, unsure=0, no=0, normal_yes=0, normal=16).passed


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[4].__setitem__(1, "maybe"), "line 5: cell 4: answer 'maybe' is not one of yes, no, unsure"),
    (lambda rows: rows.pop(7), "1 cell(s) not answered, e.g. 7"),
    (lambda rows: rows.append(["999", "yes"]), "there is no cell 999"),
    (lambda rows: rows.append(["2", "no"]), "cell 2 is answered twice"),
    (lambda rows: rows[2].__setitem__(0, "two"), "line 3: cell 'two' is not a number"),
    (lambda rows: rows[0].__setitem__(1, "verdict"), "the header must name 'cell' and 'answer'"),
])
def test_a_mistake_in_a_sheet_is_named_with_its_file_and_line(sheets, edit, message):
    kind = sorted(p.stem.rsplit("-", 1)[0] for p in sheets.glob("*.png"))[0]
    _fill(sheets, kind, lambda true, cell: "yes")
    with open(sheets / f"{kind}.csv", newline="", encoding="utf-8") as f:
        rows = [r[:2] for r in csv.reader(f)]
    edit(rows)
    with open(sheets / f"{kind}.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        rating.read_results(sheets)
    assert f"{kind}.csv" in str(e.value)


def test_the_cli_writes_sheets_and_reports_with_an_exit_code(tiny_dataset, tmp_path, capsys):
    p = tiny_dataset.paths
    out = tmp_path / "cli"
    kind = next(k for k in rating.QUESTIONS if (tiny_dataset.key.kinds == k).any())
    assert main(["rate", "sheets", "--data", str(p.data), "--answers", str(p.answers), "--out", str(out),
                 "--kinds", kind, "--normal", "2"]) == 0
    assert f"fill {out / kind}.csv" in capsys.readouterr().out
    assert main(["rate", "result", "--sheets", str(out)]) == 1               # not filled in: named, exit 1
    assert "not answered" in capsys.readouterr().err
    _fill(out, kind, lambda true, cell: "yes" if true == kind else "no")
    assert main(["rate", "result", "--sheets", str(out)]) == 0
    assert f"| {kind} |" in capsys.readouterr().out
    assert main(["rate", "sheets", "--data", str(p.data), "--answers", str(p.answers), "--out", str(out),
                 "--kinds", "cartoon"]) == 1
    assert "no rating question for kind(s) cartoon" in capsys.readouterr().err


def test_the_stored_ratings_are_complete_sheets():
    """``docs/ratings/<build>/<kind>.csv``: every cell of the 64 + 16 answered yes, no or unsure, for each kind."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "docs" / "ratings"
    builds = sorted(p for p in root.iterdir() if p.is_dir())
    assert builds
    for build in builds:
        assert sorted(p.stem for p in build.glob("*.csv")) == sorted(rating.QUESTIONS), build
        for path in build.glob("*.csv"):
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            assert [int(r["cell"]) for r in rows] == list(range(1, 81)), path
            assert {r["answer"] for r in rows} <= set(rating.ANSWERS), path
