"""Autograding: real nbgrader in long-lived workers; every hostile submission ends with a status, none aborts the batch.

(Attacks on the grader itself, with their planted effects, are in test_hostile.py; the sandbox in test_sandbox.py.)"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time

import nbformat
import numpy as np
import pytest

from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.fixtures import HIDDEN_MARKER, write_submission


def _autograded(course, sid):
    return nbformat.read(str(course.course_dir / "autograded" / sid / "ps1" / "ps1.ipynb"), as_version=4)


def _errors(nb):
    return {(c.metadata.get("nbgrader", {}).get("grade_id"), o.ename, o.evalue)
            for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"}


def test_every_submission_gets_a_status(graded_batch):
    course, res = graded_batch
    status = {sid: r.status for sid, r in res.items()}
    assert status == {"s01": "graded", "s02": "graded", "s03": "timeout", "s04": "graded", "s05": "graded",
                      "s06": "graded", "s07": "graded", "s08": "graded", "s09": "error", "s10": "error",
                      "s11": "graded", "s12": "error", "s13": "error", "s14": "missing"}
    rows = list(csv.DictReader(open(course.course_dir / "autograde_results.csv")))
    assert {r["student"]: r["status"] for r in rows} == status


def test_scores_come_from_execution_not_from_a_shortcut(graded_batch):
    _, res = graded_batch
    assert res["s01"].code_score == 2.0 and res["s01"].max_score == 5.0     # 2 test points + 3 manual
    assert res["s01"].needs_manual_grade is True                            # the report answer waits for a TA
    for sid in ("s02", "s03", "s04", "s05", "s06", "s07", "s08", "s11"):
        assert res[sid].code_score == 0.0, sid
    assert res["s14"].score == 0.0 and res["s14"].message == "no submission"


def test_workers_are_long_lived(graded_batch):
    _, res = graded_batch
    pids = {r.worker_pid for r in res.values() if r.worker_pid is not None}
    assert 1 <= len(pids) <= 2     # 10 notebooks through 2 processes, not one process per student


def test_infinite_loop_hits_the_cell_timeout_and_the_rest_is_graded(graded_batch):
    course, res = graded_batch
    # the read-only cell that calls the student's function times out; the test after it still runs (and fails)
    assert "cell timeout" in res["s03"].message and "check" in res["s03"].message
    errors = {e[:2] for e in _errors(_autograded(course, "s03"))}
    assert ("check", "CellTimeoutError") in errors and ("test_squares", "NameError") in errors


def test_memory_bomb_gets_memory_error(graded_batch):
    course, _ = graded_batch
    assert any(e[1] == "MemoryError" for e in _errors(_autograded(course, "s04")))


def test_os_system_and_network_are_refused(graded_batch):
    course, _ = graded_batch
    errs = _errors(_autograded(course, "s05"))
    assert any(e[1] == "PermissionError" and "os.system" in e[2] for e in errs)
    assert not list(course.course_dir.rglob("pwned.txt"))
    errs = _errors(_autograded(course, "s06"))
    assert any(e[1] == "PermissionError" and "network access is disabled" in e[2] for e in errs)


def test_edited_and_deleted_test_cells_are_restored_and_reported(graded_batch):
    course, res = graded_batch
    assert res["s07"].tampering == ["ps1: edited test cell 'test_squares'"]
    assert res["s08"].tampering == ["ps1: deleted cell 'test_squares'"]
    for sid in ("s07", "s08"):
        test = [c for c in _autograded(course, sid).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_squares"]
        assert len(test) == 1 and "assert squares_check[3] == [0, 1, 4]" in test[0].source
    # An untouched notebook is not reported, although nbgrader warns about its hidden-test cell (#1961).
    assert res["s01"].tampering == [] and res["s02"].tampering == []


def test_crash_not_a_notebook_and_wrong_notebooks_are_errors_with_reasons(graded_batch):
    _, res = graded_batch
    assert "kernel died" in res["s09"].message
    assert res["s10"].message.startswith("ps1.ipynb: line 1, column 1: not a notebook")
    assert "another assignment" in res["s12"].message
    assert "none of ps1.ipynb submitted; found: homework.ipynb" == res["s13"].message


def test_feedback_has_no_hidden_tests(graded_batch):
    course, _ = graded_batch
    pages = list((course.course_dir / "feedback").rglob("*.html"))
    assert {p.parts[-3] for p in pages} >= {"s01", "s02", "s03", "s07", "s08"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert HIDDEN_MARKER not in html, page
    import html
    import re
    good = (course.course_dir / "feedback" / "s01" / "ps1" / "ps1.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", good))
    assert "assert squares_check[3] == [0, 1, 4]" in text and "BEGIN HIDDEN TESTS" not in text


def sandbox_processes(scratch) -> list:
    """Processes (bwrap and what runs in it) whose command line names the scratch folder ``scratch``."""
    import psutil
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(scratch) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except Exception:  # noqa: BLE001 - processes come and go
            pass
    return found


def test_notebook_timeout_kills_worker_and_kernel_and_the_batch_goes_on(sandbox, released_course, tmp_path):
    from grader.autograde.run import AutogradeConfig, autograde
    course = fresh_copy(released_course, tmp_path)
    rel = release_nb(course)
    write_submission(course.course_dir / "submitted" / "a_loop" / "ps1" / "ps1.ipynb", rel, "infinite_loop")
    write_submission(course.course_dir / "submitted" / "b_good" / "ps1" / "ps1.ipynb", rel, "good")
    cfg = AutogradeConfig(workers=1, cell_timeout=120, notebook_timeout=15, feedback=False,
                          scratch_dir=tmp_path / "scratch")
    res = {r.student: r for r in autograde(course, cfg, progress=False)}
    assert res["a_loop"].status == "timeout" and "notebook timeout" in res["a_loop"].message
    assert res["b_good"].status == "graded" and res["b_good"].code_score == 2.0
    deadline = time.monotonic() + 10
    while sandbox_processes(tmp_path / "scratch") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sandbox_processes(tmp_path / "scratch") == []


def test_worker_started_without_venv_on_path_creates_a_valid_gradebook(released_course, tmp_path):
    """Workers may be started by anything (Dask, a service): each puts the venv's bin on PATH itself."""
    from grader.autograde.course import CourseConfig
    from grader.autograde.pool import WorkerProcess
    from grader.autograde.run import AutogradeConfig, _init_message
    course = CourseConfig(source=released_course.source, course_dir=tmp_path / "c")
    write_submission(course.course_dir / "submitted" / "x" / "ps1" / "ps1.ipynb", release_nb(released_course), "good")
    init = _init_message(course, AutogradeConfig(feedback=False, unsafe_no_sandbox=True))
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = "/usr/bin:/bin"
    env["PYTHONPATH"] = os.getcwd()
    w = WorkerProcess(init, env=env, log_path=tmp_path / "w.log")
    try:
        out = w.grade({"student": "x", "assignment": "ps1"}, timeout=120)
    finally:
        w.close()
    # the course was never released here: the grading machinery fails, not the notebook
    assert out["status"] == "infrastructure_error" and "No assignment with ID 'ps1'" in (tmp_path / "w.log").read_text()
    with sqlite3.connect(course.course_dir / "gradebook.db") as db:
        assert len(db.execute("select version_num from alembic_version").fetchall()) == 1


def test_a_new_gradebook_is_stamped_in_this_process_with_the_head_alembic_reports(tmp_path, monkeypatch):
    """``env.alembic_head`` is what ``alembic heads`` says of nbgrader's migrations, and the kit stamps a new
    gradebook with it without starting ``alembic`` (~2.5 s of CPU each time): no tool on PATH, no subprocess."""
    from nbgrader import api as nbgrader_api
    from nbgrader.dbutil import _temp_alembic_ini

    from grader.autograde.course import CourseConfig, open_gradebook
    from grader.autograde.env import alembic_head, tool_dir
    with _temp_alembic_ini(f"sqlite:///{tmp_path / 'unused.db'}") as ini:
        heads = subprocess.run([str(tool_dir() / "alembic"), "-c", ini, "heads"], capture_output=True, text=True,
                               check=True).stdout.split()
    assert heads[0] == alembic_head() and heads[1] == "(head)" and len(heads) == 2, heads

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"nbgrader started {args}")
    monkeypatch.setattr(nbgrader_api.sp, "check_output", no_subprocess)
    monkeypatch.setenv("PATH", str(tmp_path))
    course = CourseConfig(source=tmp_path / "src", course_dir=tmp_path / "c")
    course.course_dir.mkdir()
    with open_gradebook(course):
        pass
    with sqlite3.connect(course.course_dir / "gradebook.db") as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(alembic_head(),)]


def test_without_the_fix_nbgrader_leaves_a_broken_gradebook(tmp_path):
    """The hazard ``env.prepare_nbgrader`` exists for, in plain nbgrader (fails if some system alembic is on the
    bare PATH)."""
    import shutil
    if shutil.which("alembic", path="/usr/bin:/bin"):
        pytest.skip("a system-wide alembic is on /usr/bin:/bin")
    db = tmp_path / "gb.db"
    code = f"from nbgrader.api import Gradebook; Gradebook('sqlite:///{db}')"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert proc.returncode != 0
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert "grade" in tables and "alembic_version" not in tables


def test_sandbox_hook_refuses_network_and_processes_but_not_loopback(tmp_path):
    code = r"""
import json, os, socket, subprocess
from grader.autograde.sandbox_kernel import make_audit_hook
import sys
sys.addaudithook(make_audit_hook())
out = {}
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket(); c.connect(srv.getsockname()); out["loopback"] = "ok"
for name, fn in [("connect", lambda: socket.socket().connect(("192.0.2.1", 80))),
                 ("dns", lambda: socket.getaddrinfo("example.com", 80)),
                 ("system", lambda: os.system("true")),
                 ("popen", lambda: subprocess.run(["true"]))]:
    try:
        fn(); out[name] = "allowed"
    except PermissionError as e:
        out[name] = "refused"
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=os.getcwd(), timeout=60)
    assert json.loads(proc.stdout) == {"loopback": "ok", "connect": "refused", "dns": "refused",
                                       "system": "refused", "popen": "refused"}


def test_memory_limit_applies_in_a_sandboxed_process():
    code = ("from grader.autograde.sandbox_kernel import apply_sandbox\napply_sandbox({'memory_mb': 512})\n"
            "try:\n    x = bytearray(1 << 30)\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "MemoryError"


def test_autograde_cli_in_process(graded_batch, capsys):
    from grader.cli import main
    course, _ = graded_batch
    rc = main(["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--student", "s01",
               "--student", "s10", "--workers", "1", "--cell-timeout", "20", "--no-progress", "--no-feedback",
               "--no-data"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "2 submissions" in out and "1 graded" in out and "1 error" in out
    assert "s10/ps1: error ps1.ipynb: line 1, column 1: not a notebook" in out


def test_autograde_before_release_is_a_clear_error(tmp_path, capsys):
    from grader.cli import main
    from tests.autograde.fixtures import write_fixture_source
    write_fixture_source(tmp_path / "src", "ps1")
    assert main(["autograde", "--source", str(tmp_path / "src"), "--course", str(tmp_path / "c")]) == 1
    assert "not released" in capsys.readouterr().err


def test_autograde_modules_import_neither_torch_nor_nbgrader():
    """grader never imports torch at import time; nbgrader/dask/pandas load only where used."""
    code = ("import sys, grader.cli\n"
            "import grader.autograde.release, grader.autograde.collect, grader.autograde.run, "
            "grader.autograde.pool, grader.autograde.dask_pool, grader.autograde.results, "
            "grader.autograde.gradebook, grader.autograde.similarity, grader.autograde.feedback, "
            "grader.autograde.tamper, grader.autograde.worker, grader.autograde.sandbox_kernel, "
            "grader.autograde.sandbox, grader.autograde.execute, grader.autograde.exchange, "
            "grader.autograde.dask_check\n"
            "grader.cli.build_parser()\n"
            "print(sorted(m for m in ('torch', 'nbgrader', 'dask', 'pandas') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_default_grading_data_has_a_secret_seed(tmp_path):
    """Without --data-dir the grading preset (1,024 probe rows) is built with a seed drawn from the course's secret,
    not a public seed and not one another course draws. Built once, then reused."""
    from common.answer_key import SECRET_SEED_MIN
    from grader.autograde import probes
    from grader.autograde.run import ensure_grading_data
    course = tmp_path / "course"
    data = ensure_grading_data(course)
    assert data == course / "probes" / "data-grading" / "data"
    manifest = json.loads((data.parent / "answers" / "manifest.json").read_text())
    seed = manifest["seed"]
    assert seed == probes.grading_data_seed(course) >= SECRET_SEED_MIN and str(seed) not in str(data)
    assert manifest["kinds_version"] == probes.GRADING_KINDS_VERSION
    assert seed != probes.grading_data_seed(tmp_path / "another-course")
    test = np.load(data / "testingset.npy")
    assert test.shape == (1024, 64, 64, 3) and np.load(data / "trainingset.npy").shape == (512, 64, 64, 3)
    mtime = (data / "testingset.npy").stat().st_mtime_ns
    assert ensure_grading_data(course) == data and (data / "testingset.npy").stat().st_mtime_ns == mtime


@pytest.mark.slow   # a second grading-preset build; the seed's secrecy is asserted in the fast tier (above)
def test_no_one_can_look_up_the_default_grading_datas_labels_by_building_a_public_seed(tmp_path):
    """A student who builds the grading preset with seed 0 (labels included) finds none of the probe images."""
    import hashlib

    from grader.autograde import probes
    from grader.autograde.run import ensure_grading_data
    test = np.load(ensure_grading_data(tmp_path / "course") / "testingset.npy")
    public = tmp_path / "public"                  # what any student can build: seed 0, the grading data's kinds
    subprocess.run([sys.executable, "-m", "data_tools", "build", "--preset", "grading", "--seed", "0",
                    "--kinds-version", str(probes.GRADING_KINDS_VERSION), "--out", str(public / "data"),
                    "--answers", str(public / "answers"), "--no-progress"], check=True, capture_output=True)
    digests = {hashlib.sha256(image.tobytes()).digest() for image in np.load(public / "data" / "testingset.npy")}
    assert not any(hashlib.sha256(image.tobytes()).digest() in digests for image in test)


def test_a_resubmission_that_cannot_be_graded_keeps_no_old_score(sandbox, released_course, tmp_path):
    from grader.autograde.course import open_gradebook
    from grader.autograde.run import AutogradeConfig, autograde
    course = fresh_copy(released_course, tmp_path)
    path = course.course_dir / "submitted" / "r1" / "ps1" / "ps1.ipynb"
    write_submission(path, release_nb(course), "good")
    cfg = AutogradeConfig(workers=1, cell_timeout=20, feedback=False)
    assert autograde(course, cfg, progress=False)[0].code_score == 2.0
    write_submission(path, release_nb(course), "not_a_notebook")
    (res,) = autograde(course, cfg, progress=False)
    assert res.status == "error" and res.score == 0.0
    with open_gradebook(course) as gb:
        assert gb.find_submission("ps1", "r1").score == 0.0
