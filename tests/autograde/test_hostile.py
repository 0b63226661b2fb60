"""The hostile corpus: a student who read the kit attacks the grader itself.

One batch (2 workers, sandboxed) grades every attack of ``tests.autograde.fixtures.ATTACKS``, every way of
tampering with the test cells, the instructor's source notebook, and an honest notebook. For each: the expected
status, 0 for the cheat, the planted effect absent (no file written, no connection accepted, no process left, the
gradebook unchanged after the survivor's wait), and nothing secret in any feedback page.
"""
from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from grader.autograde.course import REPO_ROOT
from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.fixtures import ATTACKS, HIDDEN_MARKER, REPORT, attack_notebook, write_submission

TAMPER = {"t_edited": "edited_test", "t_deleted": "deleted_test", "t_duplicated": "duplicated_test",
          "t_moved": "moved_test"}
#: How long the survivor waits before it strikes (the slow test waits a minute).
SURVIVOR_WAIT = 4


class Listener:
    """A TCP listener on this machine's loopback that records every connection it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            self.accepted.append(addr)
            conn.close()


def _gradebook_scores(course) -> dict:
    from grader.autograde.course import open_gradebook
    with open_gradebook(course) as gb:
        return {(s.id, g.name): (g.auto_score, g.manual_score) for s in gb.students for sub in s.submissions
                for nb in sub.notebooks for g in nb.grades}


def _processes_named(comm: str) -> list[int]:
    import psutil
    out = []
    for p in psutil.process_iter(["name"]):
        if p.info["name"] == comm:
            out.append(p.pid)
    return out


@pytest.fixture(scope="module")
def attacked(sandbox, released_course, tiny_dataset, tmp_path_factory):
    """(course, results, targets, listener, token, scratch) after one batch over the whole corpus."""
    from grader.autograde.run import AutogradeConfig, autograde
    tmp = tmp_path_factory.mktemp("hostile")
    course = fresh_copy(released_course, tmp)
    rel = release_nb(course)
    sub = course.course_dir / "submitted"
    write_submission(sub / "honest" / "ps1" / "ps1.ipynb", rel, "good")   # another student's work, a target too
    token = "tok-" + secrets.token_hex(8)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", token])
    listener = Listener()
    targets = {
        "course_dir": str(course.course_dir), "gradebook": str(course.course_dir / "gradebook.db"),
        "paths": [str(tiny_dataset.paths.solution), str(tiny_dataset.paths.manifest),
                  str(course.source_dir / "ps1" / "ps1.ipynb"), str(course.course_dir / "gradebook.db"),
                  str(sub / "honest" / "ps1" / "ps1.ipynb"), str(REPO_ROOT / "solutions" / "__init__.py"),
                  str(REPO_ROOT / "grader" / "autograde" / "run.py"), "/etc/shadow", "/proc/1/environ"]
        + [str(p) for p in (Path.home() / n for n in (".bashrc", ".profile", ".bash_history")) if p.is_file()][:1],
        "folders": [str(course.course_dir), str(sub), str(tiny_dataset.answers_dir), str(REPO_ROOT)],
        "token_prefix": "tok-", "port": listener.port, "comm": "hw8s" + secrets.token_hex(4), "wait": SURVIVOR_WAIT}
    for kind in ATTACKS:
        path = sub / kind / "ps1" / "ps1.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(attack_notebook(rel, kind, targets), str(path))
    for sid, kind in TAMPER.items():
        write_submission(sub / sid / "ps1" / "ps1.ipynb", rel, kind)
    (sub / "leaked_source" / "ps1").mkdir(parents=True)
    (sub / "leaked_source" / "ps1" / "ps1.ipynb").write_bytes((course.source_dir / "ps1" / "ps1.ipynb").read_bytes())
    cfg = AutogradeConfig(workers=2, cell_timeout=60, notebook_timeout=300, memory_mb=2048,
                          data_dir=tiny_dataset.data_dir, scratch_dir=tmp / "scratch")
    try:
        results = {r.student: r for r in autograde(course, cfg, progress=False)}
        yield course, results, targets, listener, token, tmp / "scratch"
    finally:
        holder.kill()
        listener.sock.close()


def _report(course, sid) -> dict:
    nb = nbformat.read(str(course.course_dir / "autograded" / sid / "ps1" / "ps1.ipynb"), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(REPORT):
                    return json.loads(line[len(REPORT):])
    raise AssertionError(f"{sid}: the attack did not report (it did not run?)")


def _outputs(course, sid) -> str:
    """Every output of the student's kernel (the test cells' outputs come from the test kernel)."""
    nb = nbformat.read(str(course.course_dir / "autograded" / sid / "ps1" / "ps1.ipynb"), as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells
                       if c.metadata.get("nbgrader", {}).get("grade_id") != "test_squares"])


def _test_errors(course, sid) -> list[str]:
    nb = nbformat.read(str(course.course_dir / "autograded" / sid / "ps1" / "ps1.ipynb"), as_version=4)
    return [o.ename for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_squares"
            for o in c.get("outputs", []) if o.output_type == "error"]


def test_every_attack_is_graded_and_earns_nothing(attacked):
    course, res, *_ = attacked
    assert res["honest"].status == "graded" and res["honest"].code_score == 2.0       # the batch itself works
    for sid in ATTACKS + tuple(TAMPER):
        assert res[sid].status == "graded", (sid, res[sid].message)
        assert res[sid].code_score == 0.0, sid
        # the test really ran, on the release's version, in the test kernel: it failed, it was not skipped
        expected = ["NotPlainData"] if sid == "forged_export" else ["AssertionError"]
        assert _test_errors(course, sid) == expected, (sid, _test_errors(course, sid))
    with_hidden = [c for c in nbformat.read(str(course.course_dir / "autograded" / "hooks" / "ps1" / "ps1.ipynb"),
                                            as_version=4).cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "test_squares"]
    assert len(with_hidden) == 1 and HIDDEN_MARKER in with_hidden[0].source


def test_hooks_that_change_cell_execution_change_nothing_and_leak_nothing(attacked):
    course, res, *_ = attacked
    assert _report(course, "hooks") == {"hooks": "installed"}
    out = _outputs(course, "hooks")
    assert "CELL>>" in out                              # the print hook ran on the student's own cells ...
    assert HIDDEN_MARKER not in out and "BEGIN HIDDEN" not in out     # ... and never saw a hidden test


def test_code_planted_for_the_test_kernel_never_runs_there(attacked):
    """Config files, modules and startup scripts written into the notebook's folder and HOME: the test kernel
    starts in its own HOME, with no folder the student wrote on its path, so the forged right answer never lands."""
    course, res, *_ = attacked
    assert _report(course, "poison") == {"planted": 8}
    assert res["poison"].code_score == 0.0 and _test_errors(course, "poison") == ["AssertionError"]


def test_a_forged_export_gives_the_tests_nothing(attacked):
    """Exports rewritten after the fact (a pickle in an .npy, an untrusted class to construct): refused as data."""
    course, res, *_ = attacked
    assert _report(course, "forged_export") == {"forger": "registered"}
    nb = nbformat.read(str(course.course_dir / "autograded" / "forged_export" / "ps1" / "ps1.ipynb"), as_version=4)
    errors = [o.evalue for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_squares"
              for o in c.outputs if o.output_type == "error"]
    assert len(errors) == 1 and "`squares_check` could not be read as plain data" in errors[0], errors


def test_private_process_apis_run_as_an_unprivileged_user_in_an_empty_world(attacked):
    course, res, targets, *_ = attacked
    rep = _report(course, "processes")
    uid_line = rep["fork_exec"].splitlines()[0]
    assert uid_line.isdigit() and uid_line != "0"                  # a shell started, as somebody, not root
    assert rep["ctypes_uid"] not in (None, "0")
    assert "root:" not in rep["fork_exec"] and "No such file" in rep["fork_exec"]   # /etc/shadow does not exist
    assert rep["posix_spawn"].startswith("PermissionError")       # the audit hook still refuses what it sees
    assert not list(course.course_dir.rglob("pwned*")) and not list(REPO_ROOT.glob("pwned*"))


def test_a_survivor_process_is_gone_and_the_gradebook_unchanged(attacked):
    course, res, targets, *_ = attacked
    assert _report(course, "survivor") == {"survivor": "forked"}
    before = _gradebook_scores(course)
    time.sleep(targets["wait"] + 3)
    assert _processes_named(targets["comm"]) == []
    assert not (course.course_dir / "survivor_was_here").exists()
    assert _gradebook_scores(course) == before
    assert res["survivor"].code_score == 0.0


def test_no_secret_path_is_readable(attacked):
    course, res, targets, listener, token, _ = attacked
    for path in targets["paths"] + targets["folders"]:
        assert Path(path).exists(), f"the target {path} should exist on this machine for the check to mean much"
    rep = _report(course, "secrets")
    for path in targets["paths"] + targets["folders"]:
        assert rep[path].startswith("denied"), (path, rep[path])
    for mod in ("solutions", "grader", "kit", "data_tools", "assignments"):
        assert rep[f"import {mod}"].startswith("denied"), mod
    assert rep["cmdline_tokens"] == [] and rep["processes_visible"] < 10   # own pid namespace, own /proc
    assert token not in _outputs(course, "secrets")


def test_no_network_not_even_loopback(attacked):
    course, res, targets, listener, *_ = attacked
    rep = _report(course, "network")
    assert "CONNECTED" not in json.dumps(rep), rep
    assert rep["loopback"].startswith("ConnectionRefusedError")   # the sandbox's own empty loopback
    assert rep["loopback_ctypes"] == "errno 111"                  # below Python too
    assert listener.accepted == []                                # the machine's listener saw nobody


def test_processes_and_file_size_are_bounded_and_nothing_outlives_the_notebook(attacked):
    from tests.autograde.test_run import sandbox_processes
    course, res, targets, listener, token, scratch = attacked
    rep = _report(course, "resources")
    assert 0 < rep["forked"] < 5000 and rep["fork_stopped"].startswith("BlockingIOError")
    assert "File too large" in rep["big_file"]
    assert sandbox_processes(scratch) == []
    assert not any(p.is_file() and p.stat().st_size > 600 << 20 for p in scratch.rglob("*"))


def test_tampered_test_cells_are_graded_as_released_and_reported_per_cell(attacked):
    course, res, *_ = attacked
    assert res["t_edited"].tampering == ["ps1: edited test cell 'test_squares'"]
    assert res["t_deleted"].tampering == ["ps1: deleted cell 'test_squares'"]
    # the first copy (emptied) is the edited one; the second, the original, is a duplicate: both graded as released
    assert res["t_duplicated"].tampering == ["ps1: edited test cell 'test_squares'",
                                             "ps1: duplicated cell 'test_squares' (copy ignored)"]
    assert res["t_moved"].tampering == ["ps1: edited test cell 'test_squares'", "ps1: moved cell 'test_squares'"]
    for sid in TAMPER:
        nb = nbformat.read(str(course.course_dir / "autograded" / sid / "ps1" / "ps1.ipynb"), as_version=4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        assert ids.count("test_squares") == 1 and ids.index("check") < ids.index("test_squares"), (sid, ids)
    assert res["honest"].tampering == []


def test_the_source_notebook_is_a_named_status_not_tampering(attacked):
    course, res, *_ = attacked
    r = res["leaked_source"]
    assert r.status == "source_notebook" and r.score == 0.0 and r.tampering == []
    assert "source notebook" in r.message
    assert not (course.course_dir / "autograded" / "leaked_source").exists()      # never executed


def test_nothing_secret_in_any_feedback(attacked):
    course, res, targets, listener, token, _ = attacked
    pages = list((course.course_dir / "feedback").rglob("*.html"))
    assert {p.parts[-3] for p in pages} >= set(ATTACKS) | set(TAMPER) | {"honest"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for secret in (HIDDEN_MARKER, "BEGIN HIDDEN", token, str(course.course_dir), str(REPO_ROOT),
                       targets["gradebook"]):
            assert secret not in html, (page, secret)


@pytest.mark.slow
def test_a_survivor_waiting_a_minute_changes_nothing(sandbox, released_course, tmp_path):
    """A survivor: a forked child waits 60 s, then rewrites the student's gradebook row."""
    from grader.autograde.run import AutogradeConfig, autograde
    course = fresh_copy(released_course, tmp_path)
    comm = "hw8s" + secrets.token_hex(4)
    targets = {"course_dir": str(course.course_dir), "gradebook": str(course.course_dir / "gradebook.db"),
               "comm": comm, "wait": 60}
    path = course.course_dir / "submitted" / "late_strike" / "ps1" / "ps1.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(attack_notebook(release_nb(course), "survivor", targets), str(path))
    (res,) = autograde(course, AutogradeConfig(workers=1, cell_timeout=60, feedback=False), progress=False)
    assert res.status == "graded" and res.code_score == 0.0
    before = _gradebook_scores(course)
    time.sleep(65)
    assert _processes_named(comm) == [] and not (course.course_dir / "survivor_was_here").exists()
    assert _gradebook_scores(course) == before
