"""``python -m grader reproduce``: a student's notebook re-run on the data in the sandbox, compared with the
submission that counts for them on the final board.

The fast tests use a fixture notebook that scores each test image by its mean pixel value (deterministic, no
training) on the tiny data set, and a leaderboard on SQLite holding what each student uploaded: the file their
notebook writes (``good``, selected among two uploads), the same scores reversed (``other``), and students whose
notebook fails or writes too few rows. One command run over them is shared by the tests that read its report.
"""
from __future__ import annotations

import csv
import io
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from grader.autograde import reproduce as rp
from grader.autograde.course import CourseConfig

A = "pred"
SETUP = ("import numpy as np\nfrom starter_code.notebook import NotebookEnv\n"
         "from starter_code.submission import write_submission\n"
         "env = NotebookEnv.from_environ()\nassert not env.smoke, 'smoke mode is on'\ntest = env.load_test()")
MEAN = "scores = test.astype(np.float64).mean(axis=(1, 2, 3))"
WRITE = "write_submission(scores, env.path('prediction.csv'))"
#: The middle cell of each student's notebook.
NOTEBOOKS = {
    "good": MEAN,
    "other": MEAN,
    "crash": "raise RuntimeError('out of ideas')",
    "short": MEAN + "[:10]",
    "loop": "while True:\n    pass",
    "nosel": MEAN,
}
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)


def mean_scores(test: np.ndarray) -> np.ndarray:
    return test.astype(np.float64).mean(axis=(1, 2, 3))


def csv_of(scores: np.ndarray) -> bytes:
    """The file ``write_submission`` writes for ``scores`` (what the fixture notebook uploads)."""
    import tempfile

    from starter_code.submission import write_submission
    with tempfile.TemporaryDirectory() as d:
        return write_submission(scores, Path(d) / "prediction.csv").read_bytes()


def notebook(middle: str):
    from nbformat.v4 import new_code_cell, new_notebook
    return new_notebook(cells=[new_code_cell(SETUP), new_code_cell(middle), new_code_cell(WRITE)],
                        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                 "language": "python"}})


@pytest.fixture(scope="module")
def term(tmp_path_factory, tiny_dataset):
    """(course, database URL, answer key path, {login: [submission ids]}, data folder): the board, the collected
    notebooks (everyone in ``NOTEBOOKS``; ``nosub`` uploaded but handed in no notebook)."""
    import nbformat

    from grader.competition import CompetitionConfig
    from grader.leaderboard.service import Leaderboard
    from grader.leaderboard.store import Store
    root = tmp_path_factory.mktemp("reproduce")
    course = CourseConfig(source=root / "src", course_dir=root / "course")
    for sid, middle in NOTEBOOKS.items():
        path = course.course_dir / "submitted" / sid / A / f"{A}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(notebook(middle), str(path))
    url = f"sqlite:///{root / 'lb.sqlite3'}"
    key = tiny_dataset.key
    cfg = CompetitionConfig(answers=tiny_dataset.paths.solution, database_url=url, opens_at=NOW - timedelta(days=1),
                            closes_at=NOW + timedelta(days=5), daily_limit=10, final_selections=2)
    store = Store(url)
    lb = Leaderboard(cfg, store=store, key=key, clock=lambda: NOW)
    roster = "id,name\n" + "".join(f"{s},{s.title()}\n" for s in ("good", "other", "crash", "short", "loop",
                                                                     "nosel", "nosub"))
    lb.import_roster(roster.encode(), tokens_path=root / "tokens.csv")
    users = {st.login: st for st in store.accounts.all()}
    mine = mean_scores(tiny_dataset.test)
    uploads = {"good": [mine, -mine], "other": [-mine], "crash": [mine], "short": [mine], "loop": [mine],
               "nosub": [mine]}
    ids = {}
    for login, files in uploads.items():
        for scores in files:
            view = lb.submit(users[login], "prediction.csv", csv_of(scores))
            lb.ack(view.id)
            ids.setdefault(login, []).append(view.id)
    # good marks its notebook's file: the reversed one it uploaded later must not be compared
    lb.select(users["good"], [ids["good"][0]])
    store.close()
    return course, url, tiny_dataset.paths.solution, ids, tiny_dataset.data_dir


def cli(term, *students, extra=()):
    from grader.cli import main
    course, url, answers, _, data = term
    who = [a for s in students for a in ("--student", s)] or ["--all"]
    return main(["reproduce", "--source", str(course.source), "--course", str(course.course_dir), "--assignment", A,
                 *who, "--data", str(data), "--database-url", url, "--answers", str(answers), "--no-progress",
                 "--threads", "1", "--memory-mb", "2048", "--cell-timeout", "120", *extra])


def table(out: str) -> dict[str, list[str]]:
    """Rows of the printed table by student (columns as ``rp.COLUMNS``; empty cells collapse, so read by name
    only the first columns)."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in rp.STATUSES:
            rows[parts[0]] = parts
    return rows


# --- without a kernel ------------------------------------------------------------------------------------------

def test_unknown_student_and_bad_input_each_get_a_clear_message(term, capsys):
    """Nothing runs for a student who cannot be compared; each is named with the reason and the exit code is 1."""
    assert cli(term, "nobody", "nosel", "nosub") == 1
    out = capsys.readouterr().out
    rows = table(out)
    assert {s: r[1] for s, r in rows.items()} == {"nobody": "error", "nosel": "error", "nosub": "error"}
    assert "nobody: error: unknown student 'nobody': not on the leaderboard's roster" in out
    assert "nosel: error: no final selection" in out
    assert "nosub: error: no submission" in out and "submitted/nosub/pred" in out


def test_all_takes_every_student_with_a_final_submission(term):
    _, url, answers, ids, _ = term
    from common.answer_key import load_answer_key
    board = rp.Board(url, len(load_answer_key(answers)), final_selections=2)
    try:
        assert board.with_final() == sorted(ids)           # nosel uploaded nothing
        final = board.final("good")
        assert final.submission_id == ids["good"][0] and final.marked
        other = board.final("other")
        assert other.submission_id == ids["other"][0] and not other.marked
    finally:
        board.close()


def test_a_missing_board_is_an_error_not_a_new_database(term, tmp_path, capsys):
    from grader.cli import main
    course, _, answers, _, data = term
    rc = main(["reproduce", "--course", str(course.course_dir), "--assignment", A, "--all", "--data", str(data),
               "--database-url", f"sqlite:///{tmp_path / 'none.sqlite3'}", "--answers", str(answers)])
    assert rc == 1 and "no leaderboard database there" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()


def test_thresholds_decide_match_and_mismatch(tiny_dataset):
    key = tiny_dataset.key
    base = mean_scores(tiny_dataset.test)
    rng = np.random.default_rng(0)
    cfg = rp.ReproduceConfig()
    same = rp.compare(rp.Outcome("a"), base, base + 1e-9 * rng.standard_normal(len(base)), key, cfg)
    assert same.status == "match" and same.correlation > 0.999 and abs(same.public_diff) < 1e-6
    # the same ranking except the best-separated public anomalies pushed to the bottom: high rank correlation,
    # a different public AUC
    moved = base.copy()
    public_anomalies = np.flatnonzero(key.public & (key.labels == 1))
    moved[public_anomalies[:3]] = base.min() - 1
    o = rp.compare(rp.Outcome("b"), base, moved, key, cfg)
    assert o.correlation >= cfg.min_correlation and abs(o.public_diff) > cfg.max_auc_diff
    assert o.status == "mismatch" and "public AUC" in o.message and "rank correlation" not in o.message
    loose = rp.compare(rp.Outcome("c"), base, moved, key, rp.ReproduceConfig(max_auc_diff=0.5))
    assert loose.status == "match"
    reversed_ = rp.compare(rp.Outcome("d"), base, -base, key, cfg)
    assert reversed_.status == "mismatch" and reversed_.correlation == pytest.approx(-1.0)


def test_gpu_devices_are_bound_only_when_asked(monkeypatch):
    argv = ["bwrap", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/hw8/venv/x",
            "--remount-ro", "/", "--chdir", "/hw8/work", "--", "python"]
    assert rp.with_devices(argv, []) == argv
    out = rp.with_devices(argv, ["/dev/nvidia0", "/dev/nvidiactl"])
    i = out.index("--dev-bind")
    assert out[i:i + 6] == ["--dev-bind", "/dev/nvidia0", "/dev/nvidia0", "--dev-bind", "/dev/nvidiactl",
                            "/dev/nvidiactl"]
    assert out.index("/dev") < i < len(out) - out[::-1].index("--remount-ro") - 1
    assert out[i + 6:i + 8] == ["--remount-ro", "/"]
    cfg = rp.ReproduceConfig(gpu=True, unsafe_no_sandbox=True)
    assert cfg.sandbox().memory_mb >= rp.GPU_MEMORY_MB and rp.ReproduceConfig().sandbox().memory_mb == 32768
    monkeypatch.setattr(rp, "gpu_devices", lambda: [])
    with pytest.raises(rp.GraderError, match="no NVIDIA device"):
        rp.Runner(cfg, Path("."), progress=False)


def test_smoke_mode_is_off_in_the_kernel():
    env = rp.ReproduceConfig(threads=3).sandbox().env
    assert env["HW8_SMOKE"] == "0" and env["OMP_NUM_THREADS"] == "3"


# --- one sandboxed run over the students -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def batch(sandbox, term, tmp_path_factory):
    """(exit code, stdout, CSV path) of one run over good, other, crash, short, loop and an unknown student."""
    import contextlib
    out = io.StringIO()
    path = tmp_path_factory.mktemp("report") / "reproduce.csv"
    with contextlib.redirect_stdout(out):
        rc = cli(term, "good", "other", "crash", "short", "loop", "nobody",
                 extra=["--csv", str(path), "--notebook-timeout", "10"])
    return rc, out.getvalue(), path


def _csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def test_the_notebook_that_wrote_the_selected_file_matches(batch, term):
    _, out, path = batch
    rows = _csv(path)
    good = rows["good"]
    assert good["status"] == "match", out
    assert good["board_id"] == str(term[3]["good"][0]) and good["selection"] == "marked"
    assert float(good["rank_corr"]) == pytest.approx(1.0)
    assert float(good["public_diff"]) == 0.0 and float(good["private_diff"]) == 0.0
    assert 0.0 < float(good["board_public"]) < 1.0 and good["board_public"] == good["repro_public"]


def test_an_uploaded_file_the_notebook_does_not_write_is_a_mismatch(batch):
    _, out, path = batch
    other = _csv(path)["other"]
    assert other["status"] == "mismatch" and other["selection"] == "auto"
    assert float(other["rank_corr"]) == pytest.approx(-1.0)
    assert abs(float(other["public_diff"])) > 0.02 or abs(float(other["private_diff"])) > 0.02
    assert "other: mismatch: rank correlation -1.0000 < 0.9" in out


def test_a_failing_notebook_is_reported_and_the_others_go_on(batch):
    rc, out, path = batch
    rows = _csv(path)
    assert rc == 1
    assert rows["crash"]["status"] == "failed"
    assert "wrote no prediction.csv" in rows["crash"]["message"]
    assert "RuntimeError: out of ideas" in rows["crash"]["message"]
    assert rows["short"]["status"] == "failed" and "prediction.csv" in rows["short"]["message"]
    assert "128" in rows["short"]["message"] and "10" in rows["short"]["message"]
    assert rows["loop"]["status"] == "failed" and "ran past --notebook-timeout (10 s)" in rows["loop"]["message"]
    assert 10 <= float(rows["loop"]["seconds"]) < 50
    assert rows["nobody"]["status"] == "error"
    assert list(rows) == ["good", "other", "crash", "short", "loop", "nobody"]       # the order asked for
    assert rows["good"]["status"] == "match"
    assert "1 match, 1 mismatch, 3 failed, 1 error" in out


def test_the_csv_is_private(batch):
    _, _, path = batch
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# --- on a Dask cluster -------------------------------------------------------------------------------------------

def test_on_a_dask_cluster_the_same_students_get_the_same_outcomes(sandbox, term, batch):
    """Two Dask worker processes run the notebooks side by side, in the same sandbox; the outcomes are the local
    run's (``batch``), student by student, in the order asked for."""
    from dask.distributed import Client, LocalCluster

    from common.answer_key import load_answer_key
    course, url, answers, _, data = term
    key = load_answer_key(answers)
    board = rp.Board(url, len(key), 2)
    cfg = rp.ReproduceConfig(threads=1, memory_mb=2048, cell_timeout=120, notebook_timeout=10)
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        try:
            out = rp.reproduce(course, A, ["good", "other", "crash", "loop", "nobody"], data_dir=data, key=key,
                               board=board, cfg=cfg, progress=False, dask_scheduler=client)
        finally:
            board.close()
    local = _csv(batch[2])
    assert [o.student for o in out] == ["good", "other", "crash", "loop", "nobody"]
    for o in out:
        assert o.status == local[o.student]["status"], (o.student, o.message)
    got = {o.student: o for o in out}
    assert got["good"].correlation == pytest.approx(1.0) and got["other"].correlation == pytest.approx(-1.0)
    assert "RuntimeError: out of ideas" in got["crash"].message
    assert "ran past --notebook-timeout (10 s)" in got["loop"].message


def test_an_unencrypted_scheduler_beyond_this_machine_is_refused_before_anything_runs(term, capsys):
    assert cli(term, "good", extra=["--dask-scheduler", "tcp://10.1.2.3:8786"]) == 1
    err = capsys.readouterr().err
    assert "must use TLS" in err and "Traceback" not in err


# --- a real assignment -------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_01_simple_trained_twice_gives_the_same_scores(sandbox, tiny_dataset, tmp_path):
    """01_simple, solved with starter_code and released as the autograder runs it, trained on the tiny data with
    smoke mode off: the file one run writes, uploaded and selected, is what a second run reproduces."""
    import nbformat

    from grader.autograde.course import REPO_ROOT
    from grader.autograde.release import release
    from grader.competition import CompetitionConfig
    from grader.leaderboard.service import Leaderboard
    from grader.leaderboard.store import Store
    from tests.autograde.fixtures import STUDENT_ANSWERS, answered_submission, submit_notebooks
    a = "01_simple"
    course = CourseConfig(source=REPO_ROOT / "assignments", course_dir=tmp_path / "course")
    release(course, [a])
    rel = nbformat.read(str(course.course_dir / "release" / a / f"{a}.ipynb"), as_version=4)
    submit_notebooks(course, a, {"solver": answered_submission(rel, STUDENT_ANSWERS[a])})
    cfg = rp.ReproduceConfig(threads=2, memory_mb=4096, cell_timeout=600)
    runner = rp.Runner(cfg, tiny_dataset.data_dir, progress=False)
    try:
        data, where, notes = runner.run(course, a, rp.find_notebook(course, "solver", a), 8 << 20)
    finally:
        runner.close()
    assert data is not None, (where, notes)
    assert where == "prediction.csv" and not [n for n in notes if not n.startswith("layout:")], notes
    url = f"sqlite:///{tmp_path / 'lb.sqlite3'}"
    store = Store(url)
    lb = Leaderboard(CompetitionConfig(answers=tiny_dataset.paths.solution, database_url=url,
                                       closes_at=NOW + timedelta(days=5)),
                     store=store, key=tiny_dataset.key, clock=lambda: NOW)
    lb.import_roster(b"id,name\nsolver,Solver\n", tokens_path=tmp_path / "tokens.csv")
    lb.ack(lb.submit(store.accounts.all()[0], "prediction.csv", data).id)
    store.close()
    board = rp.Board(url, len(tiny_dataset.key), 2)
    try:
        [o] = rp.reproduce(course, a, ["solver"], data_dir=tiny_dataset.data_dir, key=tiny_dataset.key, board=board,
                           cfg=cfg, progress=False)
    finally:
        board.close()
    assert o.status == "match", o
    assert o.correlation > 0.99 and abs(o.public_diff) <= 0.02 and abs(o.private_diff) <= 0.02
