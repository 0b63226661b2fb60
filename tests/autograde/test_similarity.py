"""similarity: copydetect fingerprints, boilerplate and class-wide code dropped, pairs ranked by rare shared code,
identical leaderboard scores joined."""
from __future__ import annotations

import copy
import csv
import re
import stat

import pytest

from grader.autograde.similarity import (SimilarityConfig, compare, join_scores, read_score_pairs,
                                         release_boilerplate, student_code)
from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.similarity_corpus import (DISGUISED, ORIGINAL, RELEASE_CELL, SHORT, SHORT_COPY, SUGGESTED,
                                              corpus)

OTHERS = [
    '''
def score_images(images):
    batch = torch.tensor(images).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        z = encoder(batch)
        out = decoder(z)
    return torch.linalg.norm((out - batch).flatten(1), dim=1).numpy()
''',
    '''
def score_images(images):
    scores = []
    for img in images:
        flat = img.reshape(-1) / 127.5 - 1
        rebuilt = pca.inverse_transform(pca.transform(flat[None]))[0]
        scores.append(float(np.abs(rebuilt - flat).mean()))
    return np.array(scores)
''',
    '''
def score_images(images):
    feats = extract(images)
    d, _ = knn.kneighbors(feats, n_neighbors=5)
    return d.mean(axis=1) + 0.1 * np.log1p(d.max(axis=1))
''',
]


def _pairs(pairs):
    return [(p.a, p.b) for p in pairs]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_issue_corpus_planted_copy_ranks_first_and_no_honest_pair_is_flagged(seed):
    """23 honest students in 3 common styles and one renamed, reformatted, reordered copy."""
    codes = corpus(seed=seed)
    pairs, skipped, _ = compare(codes, SimilarityConfig(), [RELEASE_CELL, *SUGGESTED])
    assert skipped == []
    assert _pairs(pairs)[0] == ("p1", "p2")
    assert [(p.a, p.b) for p in pairs if p.flagged] == [("p1", "p2")]
    top, honest = pairs[0], pairs[1]
    assert top.score >= 3 * honest.score, (top, honest)     # measured: 7.9x to 12.0x over these seeds
    assert top.share_a > 0.6 and top.share_b > 0.6
    # honest students of one style do share code (plain Jaccard puts dozens of their pairs at 1.00) ...
    assert sum(1 for p in pairs if p.a[0] == p.b[0] == "h" and p.shared >= 10) >= 10
    # ... but every fingerprint they share with many others counts little
    assert all(p.score < SimilarityConfig().min_score / 2 for p in pairs[1:])


def test_renamed_and_reformatted_copy_is_flagged_and_independent_work_is_not():
    codes = {"s1": ORIGINAL, "s2": DISGUISED, "s3": OTHERS[0], "s4": OTHERS[1], "s5": OTHERS[2], "s6": "pass"}
    pairs, skipped, _ = compare(codes)
    assert [(p.a, p.b) for p in pairs if p.flagged] == [("s1", "s2")]
    assert skipped == ["s6"]
    # a partial copy: the feature function pasted into otherwise different work is still the strongest pair of s7
    codes["s7"] = OTHERS[2] + "\n" + ORIGINAL.split("config = ")[0]
    pairs, _, _ = compare(codes, SimilarityConfig(min_score=15))
    flagged = {(p.a, p.b) for p in pairs if p.flagged}
    assert ("s1", "s7") in flagged and ("s3", "s7") not in flagged


def test_release_and_suggested_code_is_boilerplate():
    given = ORIGINAL            # as if the notebook handed this code out and two students kept it
    codes = {"a": given + OTHERS[0], "b": given + OTHERS[1], "c": OTHERS[2]}
    pairs, _, _ = compare(codes)
    assert _pairs([p for p in pairs if p.flagged]) == [("a", "b")]
    before = pairs[0].score
    pairs, _, _ = compare(codes, boilerplate=[given])
    # what is left is the seam between the given code and each one's own (``def score_images(images):``)
    assert [p for p in pairs if p.flagged] == [] and all(p.score < 0.05 * before for p in pairs)


def test_code_shared_by_most_of_the_class_is_ignored():
    common = "\n".join(f"result_{i} = helper(data, axis={i}, keepdims=True)[{i}]" for i in range(12))
    # students i and i+3 wrote the same own part; everybody has the common part (e.g. copied from a tutorial)
    codes = {f"s{i}": common + "\n" + OTHERS[i % 3] for i in range(6)}
    unfiltered, _, _ = compare(codes, SimilarityConfig(max_share=1.0, min_score=1))
    assert ("s0", "s1") in _pairs(unfiltered)
    pairs, _, _ = compare(codes, SimilarityConfig(max_share=0.5, min_score=1))
    assert set(_pairs(pairs)) == {("s0", "s3"), ("s1", "s4"), ("s2", "s5")}


def test_boilerplate_from_a_release_notebook():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    rel = new_notebook(cells=[
        new_markdown_cell("Call `scores_all = anomaly_scores(model, images_to_score)` or:\n"
                          "```python\nmodel, history = build_and_fit(train, cfg)\n```\nthen `plot_loss` it."),
        new_code_cell("import numpy as np\nprint(model)")])
    assert release_boilerplate(rel) == ["model, history = build_and_fit(train, cfg)\n",
                                        "scores_all = anomaly_scores(model, images_to_score)",
                                        "import numpy as np\nprint(model)"]


def _board_export(tmp_path, scores: dict[str, list[float]]) -> str:
    """The real leaderboard's TA export after each student uploaded the given score vectors (same key)."""
    import numpy as np

    from grader.leaderboard.service import Leaderboard
    from grader.leaderboard.store import Store
    from tests.leaderboard.conftest import Clock, csv_bytes, make_cfg, make_key
    from common.answer_key import write_answer_key
    key = make_key()
    key_path = write_answer_key(key, tmp_path / "solution.csv")
    url = f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    with Store(url) as store:
        board = Leaderboard(make_cfg(key_path, url), store=store, key=key, clock=Clock())
        from grader.roster import Student, roster_csv
        result = board.import_roster(roster_csv([Student(s, s.upper()) for s in scores]).encode())
        users = {i.login: board.authenticate(i.token) for i in result.issued}
        for s, vec in scores.items():
            board.submit(users[s], "prediction.csv", csv_bytes(np.asarray(vec)))
        return board.export_leaderboard_csv()


def test_identical_leaderboard_scores_are_joined_to_the_pairs(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    shared = rng.random(200)
    sample = rng.random(200)                     # the unchanged sample code: many students, same scores
    export = _board_export(tmp_path, {"s1": shared, "s2": shared.copy(), "s3": rng.random(200),
                                      "s4": sample, "s5": sample, "s6": sample, "s9": rng.random(200)})
    (tmp_path / "lb.csv").write_text(export, encoding="utf-8")
    scores = read_score_pairs(tmp_path / "lb.csv")
    assert scores["s1"] == scores["s2"] != scores["s3"]
    codes = {"s1": ORIGINAL, "s2": DISGUISED, "s3": OTHERS[0], "s4": OTHERS[1], "s5": OTHERS[2], "s6": "pass"}
    pairs, _, _ = compare(codes)
    pairs = join_scores(pairs, scores, sorted(codes))
    by = {(p.a, p.b): p for p in pairs}
    assert by[("s1", "s2")].flagged and by[("s1", "s2")].same_scores == 2
    assert by[("s1", "s2")].scores == "/".join(scores["s1"])
    # students with identical scores and no shared code still appear, with the size of their group
    assert {k: by[k].same_scores for k in [("s4", "s5"), ("s4", "s6"), ("s5", "s6")]} == \
        {("s4", "s5"): 3, ("s4", "s6"): 3, ("s5", "s6"): 3}
    assert all(by[k].score == 0 for k in [("s4", "s5"), ("s4", "s6"), ("s5", "s6")])
    assert ("s3", "s9") not in by and not any("s9" in k for k in by)        # s9 submitted no notebook


def test_leaderboard_export_errors_name_line_and_column(tmp_path):
    from grader.autograde.gradebook import ScoreFileError
    p = tmp_path / "lb.csv"
    p.write_text("login,best_public\nu1,0.5\n")
    with pytest.raises(ScoreFileError, match=re.escape("line 1: no column(s) final_private")):
        read_score_pairs(p)
    p.write_text("login,best_public,final_private\nu1,0.5,0.4\nu2,high,0.4\n")
    with pytest.raises(ScoreFileError, match=re.escape("line 3, column 'best_public', id u2: 'high' is not a number")):
        read_score_pairs(p)


def test_similarity_on_submitted_notebooks_and_cli(released_course, tmp_path, capsys):
    import nbformat

    from grader.cli import main
    course = fresh_copy(released_course, tmp_path)
    rel = release_nb(course)
    bodies = {"a": ORIGINAL, "b": DISGUISED, "c": OTHERS[0], "d": OTHERS[1], "e": OTHERS[2]}
    for sid, body in bodies.items():
        nb = copy.deepcopy(rel)
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == "squares":
                c.source = body
        path = course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    # the untouched release must not match anybody (its code is boilerplate)
    (course.course_dir / "submitted" / "f" / "ps1").mkdir(parents=True)
    nbformat.write(rel, str(course.course_dir / "submitted" / "f" / "ps1" / "ps1.ipynb"))
    (tmp_path / "lb.csv").write_text("login,name,best_public,final_private\na,A,0.812345,0.799999\n"
                                     "b,B,0.812345,0.799999\nc,C,0.7,0.7\n")
    rc = main(["similarity", "--source", str(course.source), "--course", str(course.course_dir),
               "--leaderboard", str(tmp_path / "lb.csv")])
    out = capsys.readouterr().out
    assert rc == 0 and "ps1: 6 students, 1 pair(s) flagged" in out, out
    first = out.splitlines()[1]
    assert first.startswith("  FLAG   1. a ~ b: score ") and "identical scores 0.812345/0.799999 (2 students)" in first
    rows = list(csv.DictReader(open(course.course_dir / "similarity_ps1.csv")))
    assert (rows[0]["student_a"], rows[0]["student_b"], rows[0]["flagged"], rows[0]["same_scores"]) == \
        ("a", "b", "1", "2")
    assert not any("f" in (r["student_a"], r["student_b"]) for r in rows)
    page = (course.course_dir / "similarity_ps1.html").read_text(encoding="utf-8")
    assert "a ~ b" in page and page.count("<mark>") >= 3 and "error_features" in page
    for name in ("similarity_ps1.csv", "similarity_ps1.html"):
        assert stat.S_IMODE((course.course_dir / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("seed", range(6))
def test_a_short_copy_is_flagged_relative_to_its_length_and_the_class(seed):
    """Seven copied lines score below ``min_score`` yet cover nearly all of both students' own code; no honest
    pair of the 23 comes near."""
    tail = RELEASE_CELL.split("\n", 2)[2]
    codes = {**corpus(seed=seed), "q1": SHORT + tail, "q2": SHORT_COPY + tail}
    pairs, skipped, _ = compare(codes, SimilarityConfig(), [RELEASE_CELL, *SUGGESTED])
    by = {(p.a, p.b): p for p in pairs}
    assert skipped == [] and by[("q1", "q2")].score < SimilarityConfig().min_score      # the old rule missed it
    assert sorted((p.a, p.b) for p in pairs if p.flagged) == [("p1", "p2"), ("q1", "q2")]
    honest = max(p.coverage for p in pairs if p.a[0] == p.b[0] == "h")
    assert by[("q1", "q2")].coverage > 0.9 and honest < SimilarityConfig().min_coverage, honest


def test_identical_scores_lower_the_bar_for_two_students_alone():
    """A third of s8's own code is s1's noise helper: not enough alone, enough with identical leaderboard scores."""
    codes = {"s1": ORIGINAL, "s3": OTHERS[0], "s4": OTHERS[1], "s5": OTHERS[2],
             "s8": OTHERS[2] + "\n" + ORIGINAL.split("def error_features")[0]}
    pairs, _, _ = compare(codes)
    pair = next(p for p in pairs if (p.a, p.b) == ("s1", "s8"))
    assert not pair.flagged and SimilarityConfig().twin_coverage <= pair.coverage < SimilarityConfig().min_coverage
    pairs = join_scores(pairs, {"s1": ("0.81", "0.79"), "s8": ("0.81", "0.79")}, sorted(codes))
    assert pair.flagged and pair.same_scores == 2


def test_code_moved_out_of_the_answer_cell_is_still_compared(released_course):
    """A copy pasted into an added cell (the answer cell left as released) is the student's code all the same;
    the release's lines, wherever a student repeats them, are not."""
    from nbformat.v4 import new_code_cell
    rel = release_nb(released_course)
    given = next(c for c in rel.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "squares")
    moved = copy.deepcopy(rel)
    at = moved.cells.index(next(c for c in moved.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                                == "squares"))
    moved.cells.insert(at + 1, new_code_cell(DISGUISED + "\n" + given.source))
    code = student_code(moved, rel)
    assert "compute_err_feats" in code and given.source.strip().splitlines()[0] not in code
    assert student_code(rel, rel) == ""
    pairs, skipped, _ = compare({"a": ORIGINAL, "b": code, "c": OTHERS[0], "d": OTHERS[1]})
    assert "b" not in skipped and [(p.a, p.b) for p in pairs if p.flagged] == [("a", "b")]
