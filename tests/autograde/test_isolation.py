"""Students cannot harm each other: per-sandbox cgroups, scratch quotas, and a retry of the grading machinery.

- a fork bomb and a memory spreader graded beside honest notebooks: the honest ones get full points, every time;
  the bomb is stopped at its own ``max_processes``, the spreader's children are killed at its own memory limit;
- writes past the scratch quota fail inside the sandbox (the student's cell shows ENOSPC), never on the host;
- every kernel's cgroup and scratch mount is gone after the run, and what a dead worker left is cleaned;
- a failure of the grading machinery is retried once in a fresh worker and graded; twice, the row is
  ``infrastructure_error`` (no score; the gradebook refuses to export it unless the TA counts it as 0), and a plain
  rerun grades it.

Tests that need cgroups fail under CI (a root VM with cgroup v1 or v2) and skip with the reason elsewhere.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grader.autograde import cgroups
from grader.autograde.sandbox import SETPRIV, launch_argv
from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.fixtures import ISOLATION_REPORT, write_submission

#: The isolation batch: student id -> kind; the attackers first, so they run beside the honest ones.
NEIGHBOURS = {"a_bomb": "fork_bomb", "b_spreader": "memory_spreader", "c_honest": "threaded",
              "d_filler": "disk_filler", "e_honest": "good"}
RSS_MB, MAX_PROCESSES, SCRATCH_MB = 1024, 128, 64
PREFIX_DIR = cgroups.PREFIX


def need_cgroups() -> cgroups.Hierarchy:
    """The writable cgroup hierarchy; fail (CI) or skip (elsewhere) without one, or without tmpfs quotas."""
    from grader.autograde.sandbox import quota_unavailable
    h = cgroups.hierarchy()
    reason = h if isinstance(h, str) else quota_unavailable()
    if reason is None:
        return h
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI runs as root on a VM with writable cgroups: the isolation tests must run")
    pytest.skip(f"no per-sandbox isolation here: {reason}")


def _report(course, sid) -> dict | None:
    nb = nbformat.read(str(course.course_dir / "autograded" / sid / "ps1" / "ps1.ipynb"), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(ISOLATION_REPORT):
                    return json.loads(line[len(ISOLATION_REPORT):])
    return None


def _grade_neighbours(course, tmp_path):
    from grader.autograde.run import AutogradeConfig, autograde
    rel = release_nb(course)
    for sid, kind in NEIGHBOURS.items():
        write_submission(course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb", rel, kind)
    cfg = AutogradeConfig(workers=3, cell_timeout=60, notebook_timeout=300, memory_mb=4096, memory_rss_mb=RSS_MB,
                          max_processes=MAX_PROCESSES, scratch_mb=SCRATCH_MB, feedback=False, regrade=True,
                          scratch_dir=tmp_path / "scratch")
    return {r.student: r for r in autograde(course, cfg, progress=False)}


def _check_neighbours(course, res, tmp_path) -> None:
    for sid in ("c_honest", "e_honest"):
        assert (res[sid].status, res[sid].code_score) == ("graded", 2.0), (sid, res[sid].status, res[sid].message)
    assert _report(course, "c_honest") == {"threads": 48}       # its threads started while the bomb held its own
    for r in res.values():
        assert r.sandbox == "bwrap", (r.student, r.sandbox)     # every per-sandbox limit in force
    bomb = _report(course, "a_bomb")
    assert bomb is not None and bomb["stopped"].startswith("BlockingIOError"), bomb
    assert bomb["forked"] < MAX_PROCESSES                    # its own pids.max, not the uid's processes
    spread = _report(course, "b_spreader")
    if spread is not None:                                  # (else the kernel itself was the one killed)
        assert any(spread["killed"]) and sum(spread["held_mib"]) < 4 * 1536, spread
    filler = _report(course, "d_filler")
    assert filler is not None, "the disk filler did not report"
    for where in ("work", "home"):
        assert filler[where] == "OSError: [Errno 28] No space left on device", filler
        assert filler[f"{where}_mib"] <= SCRATCH_MB, filler
    assert (res["d_filler"].status, res["d_filler"].code_score) == ("graded", 2.0)   # its cells went on
    # every kernel's cgroup and scratch mount is gone
    pids = {r.worker_pid for r in res.values() if r.worker_pid} | {os.getpid()}
    assert [g for g in cgroups.kit_groups() if int(g.split("-")[0]) in pids] == []
    assert not [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(tmp_path) in ln]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_neighbours_of_a_fork_bomb_and_a_memory_spreader_get_full_points(sandbox, released_course, tmp_path):
    need_cgroups()
    course = fresh_copy(released_course, tmp_path)
    _check_neighbours(course, _grade_neighbours(course, tmp_path), tmp_path)


@pytest.mark.slow
def test_neighbours_get_full_points_every_time_over_10_trials(sandbox, released_course, tmp_path):
    need_cgroups()
    course = fresh_copy(released_course, tmp_path)
    for trial in range(10):
        res = _grade_neighbours(course, tmp_path)
        try:
            _check_neighbours(course, res, tmp_path)
        except AssertionError as e:
            raise AssertionError(f"trial {trial + 1} of 10: {e}") from e


# --- the limits, one kernel-free process at a time -----------------------------------------------------------

def test_a_cgroup_holds_its_processes_and_memory_and_is_removed(tmp_path):
    h = need_cgroups()
    g = cgroups.Group.create(h, pids_max=16, memory_bytes=96 << 20)
    try:
        fork = subprocess.run([*launch_argv(g), "/bin/sh", "-c",
                               "for i in $(seq 40); do sleep 2 & done; wait; echo done"],
                              capture_output=True, text=True, timeout=60)
        hog = subprocess.run([*launch_argv(g), sys.executable, "-c",
                              "x = [b'x' * (16 << 20) for _ in range(20)]; print('held 320 MiB')"],
                             capture_output=True, text=True, timeout=60)
    finally:
        assert g.remove()
    assert "fork" in fork.stderr.lower()                 # "Cannot fork": the 17th process was refused
    assert hog.returncode == -9 and "held" not in hog.stdout      # killed by the OOM killer at 96 MiB
    assert not any(d.exists() for d in g.dirs)


def test_what_a_dead_worker_left_is_removed(tmp_path):
    """A worker killed with kill -9 leaves its kernels' cgroups and scratch mounts: the next one removes them."""
    from grader.autograde.sandbox import clean_stale, mount_tmpfs
    h = need_cgroups()
    dead = subprocess.Popen(["true"])
    dead.wait()
    g = cgroups.Group(h, f"{dead.pid}-1")
    for d in g.dirs:
        d.mkdir(parents=True)
    survivor = subprocess.Popen([*launch_argv(g), "sleep", "60"])
    deadline = time.monotonic() + 10
    while survivor.pid not in g.pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    # an empty one under another cgroup (a grader of another login session): removed too
    elsewhere = h.tops[0] / f"hw8-test-{os.getpid()}"
    foreign = elsewhere / cgroups.PREFIX / f"{dead.pid}-2"
    foreign.mkdir(parents=True)
    scratch = tmp_path / "hw8-left"
    scratch.mkdir()
    mount_tmpfs(scratch, 4, owner=dead.pid)
    (scratch / "x").write_text("left behind")
    try:
        removed = clean_stale()
        assert {f"cgroup {g.name}", f"cgroup {foreign.name}", f"mount {scratch}"} <= set(removed)
        assert survivor.wait(timeout=10) == -9
        assert not any(d.exists() for d in g.dirs) and not scratch.exists() and not foreign.exists()
    finally:
        survivor.kill()
        g.remove()
        for d in (foreign, foreign.parent, elsewhere):
            if d.exists():
                d.rmdir()


def test_a_dead_workers_boot_folder_is_removed_and_a_live_ones_kept(tmp_path, monkeypatch):
    """A worker killed with SIGKILL runs no clean-up: its boot folder, named after its process, goes with the next
    ``clean_stale``; a folder of a process still running, or one whose name has no process, stays."""
    import tempfile

    from grader.autograde.sandbox import Boot, SandboxConfig, clean_stale, make_boot_dir
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "from grader.autograde.sandbox import make_boot_dir; "
                             "print(make_boot_dir(), flush=True)"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    left = Path(dead.communicate(timeout=60)[0].strip())
    assert left.parent == tmp_path and left.name.startswith(f"hw8-boot-{dead.pid}-")
    Boot(left, SandboxConfig(enabled=False))
    ours = make_boot_dir()
    other = tmp_path / "hw8-boot-notes"
    other.mkdir()
    removed = clean_stale()
    assert f"boot folder {left}" in removed
    assert not left.exists() and ours.is_dir() and other.is_dir()


def test_a_kernel_command_dies_with_its_starter_even_one_that_died_before_it_asked(tmp_path):
    """``launch_argv``: SIGKILL when the process that started it dies; nothing runs if that one is already gone."""
    if not Path(SETPRIV).exists():
        pytest.skip(f"no {SETPRIV}")
    marker = tmp_path / "ran"
    # the starter dies right after the start: the command (sleep) is killed with it
    starter = subprocess.run(
        [sys.executable, "-c", "import subprocess, sys; from grader.autograde.sandbox import launch_argv; "
         "p = subprocess.Popen([*launch_argv(None), 'sleep', '300']); print(p.pid, flush=True)"],
        capture_output=True, text=True, timeout=60, check=True)
    child = int(starter.stdout.split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and _state(child) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or _state(child) == "Z", "the command outlived its starter"
    # started on behalf of a process that is gone already (it died before the command asked to die with it)
    gone = subprocess.Popen(["true"])
    gone.wait()
    argv = launch_argv(None)
    argv[argv.index(str(os.getpid()))] = str(gone.pid)
    late = subprocess.run([*argv, "/bin/sh", "-c", f"touch {marker}"], timeout=30)
    assert late.returncode == 125 and not marker.exists()
    # and started by a live process, the command runs
    assert subprocess.run([*launch_argv(None), "/bin/sh", "-c", f"touch {marker}"], timeout=30).returncode == 0
    assert marker.exists()


#: A worker that starts one sandboxed kernel with nothing tying it to the worker but the lock (no ``launch_argv``
#: prefix, no ``--die-with-parent``: as when the worker is killed inside bwrap, before its child in the new pid
#: namespace has asked to die with its parent), prints ``ready`` and the kernel's IPC folder, and waits.
_UNTIED_WORKER = """
import asyncio, sys, time
from pathlib import Path
import nbformat
from grader.autograde import sandbox as sb
from grader.autograde.execute import Kernel
root, cfg = Path(sys.argv[1]), sb.SandboxConfig()
boot = sb.Boot(root / "boot", cfg)
scratch = sb.Scratch(cfg, root)
boot.seed_home(scratch.home_student)
scratch.hand_over()
argv, env, cwd = sb.kernel_command(cfg, scratch, boot, tests=False, data_dir=None)
argv = [a for a in argv[argv.index(sb.BWRAP):] if a != "--die-with-parent"]
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
k = Kernel(nb, argv=argv, env={"PATH": "/usr/bin:/bin"}, cwd=cwd, ids=scratch.ids, ipc=scratch.ipc_for(False),
           timeout=60, startup_timeout=120, max_output_bytes=1 << 20)
async def start():
    await k.start()
    await k.run()
asyncio.run(start())
print("ready", scratch.ipc_for(False), flush=True)
time.sleep(600)
"""


def test_a_sandbox_whose_worker_died_before_bwrap_tied_it_still_ends(sandbox, tmp_path):
    """The worker's lock: a kernel whose worker is killed with nothing else tying them ends within seconds."""
    from grader.autograde.sandbox import clean_stale
    from tests.autograde.test_run import sandbox_processes

    def left(ipc: str) -> list:                          # bwrap names the scratch folder, the kernel its IPC folder
        return sandbox_processes(tmp_path) + sandbox_processes(ipc)

    worker = subprocess.Popen([sys.executable, "-c", _UNTIED_WORKER, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    ipc = "/nonexistent"
    try:
        lines = iter(worker.stdout.readline, "")               # the kernel's own notes come first
        line = next((w for w in map(str.split, lines) if w[:1] == ["ready"]), None)
        assert line, "the worker did not start its kernel"
        ipc = line[1]
        time.sleep(2)
        running = left(ipc)
        assert any("hw8_sandbox_kernel" in " ".join(p.cmdline()) for p in running), running   # it runs meanwhile
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 30
        while left(ipc) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left(ipc), [" ".join(p.cmdline())[:200] for p in left(ipc)]
    finally:
        worker.kill()
        worker.wait()
        for p in left(ipc):
            try:
                p.kill()
            except Exception:  # noqa: BLE001 - gone meanwhile (or listed twice)
                pass
        clean_stale()


def test_the_worker_lock_is_held_while_the_scratch_lives_and_left_out_where_files_cannot_be_locked(monkeypatch):
    import fcntl

    from grader.autograde import sandbox as sb
    cfg = sb.SandboxConfig(enabled=False)
    scratch = sb.Scratch(cfg)
    try:
        paths = [scratch.worker_lock(tests) for tests in (False, True)]
        for path in paths:                              # a kernel's shared lock waits while the worker lives
            fd = os.open(path, os.O_RDONLY)
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            os.close(fd)
        settings = json.loads(sb.kernel_env(cfg, home="/h", data=None, tests=False, boot="/b", lib="/l",
                                            bin_dir="/v", worker_lock=paths[0])["GRADER_SANDBOX"])
        assert settings["worker_lock"] == paths[0]
        held = {p: os.open(p, os.O_RDONLY) for p in paths}
    finally:
        scratch.cleanup()
    for fd in held.values():                            # gone with the scratch: the kernel's lock is granted
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        os.close(fd)

    def no_locks(fd, op):
        raise OSError(37, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    scratch = sb.Scratch(cfg)
    try:
        assert scratch.worker_lock(False) is None and scratch.worker_lock(True) is None
    finally:
        scratch.cleanup()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_cgroup_v2_gets_the_same_limits(tmp_path):
    """The unified hierarchy's files (a file tree standing in for cgroupfs): controllers enabled for the kit's
    folder, pids.max, memory.max and no swap for each kernel's group."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("")
    (root / PREFIX_DIR).mkdir()
    (root / PREFIX_DIR / "cgroup.subtree_control").write_text("")
    h = cgroups.find_hierarchy(root, proc_cgroup="0::/\n")
    assert h == cgroups.Hierarchy(2, (root / PREFIX_DIR,), (root,))
    assert (root / "cgroup.subtree_control").read_text() == "+pids +memory"
    assert (root / PREFIX_DIR / "cgroup.subtree_control").read_text() == "+pids +memory"
    d = root / PREFIX_DIR / "next"
    d.mkdir()
    (d / "memory.swap.max").write_text("max")
    cgroups._limits(h, [d], 99, 5 << 20)
    assert [(d / f).read_text() for f in ("pids.max", "memory.max", "memory.swap.max")] == ["99", str(5 << 20), "0"]
    # neither hierarchy writable: a reason, never a silent fallback
    assert cgroups.find_hierarchy(tmp_path / "nothing").startswith("no cgroup file system at")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cgroups.find_hierarchy(empty, proc_cgroup="").startswith("no writable cgroup (no cgroup v1 pids")


def test_without_cgroups_every_row_says_rlimits_only(monkeypatch):
    from grader.autograde import sandbox as sb
    from grader.autograde.results import SANDBOXED, confinement
    monkeypatch.setattr(cgroups, "hierarchy", lambda: "no writable cgroup (read-only here)")
    monkeypatch.setattr(sb, "quota_unavailable", lambda: None)
    assert sb.isolation_gaps() == ["rlimits only: no writable cgroup (read-only here)"]
    label = sb.sandbox_label(SANDBOXED)
    assert label == "bwrap (rlimits only)" and confinement(label) == SANDBOXED
    cfg = sb.SandboxConfig(max_processes=10)
    # the uid-wide RLIMIT_NPROC is the limit without a cgroup, a high backstop with one
    assert sb.launcher_settings(cfg, pids_cgroup=True)["nproc"] - sb.launcher_settings(cfg)["nproc"] in \
        range(10 * (sb.NPROC_BACKSTOP_SANDBOXES - 1) - 50, 10 * (sb.NPROC_BACKSTOP_SANDBOXES - 1) + 50)


def test_bad_limits_are_named():
    from grader.autograde.run import AutogradeConfig
    from grader.autograde.sandbox import SandboxConfig
    from grader.errors import ConfigError
    with pytest.raises(ConfigError, match="scratch_mb must be positive, got 0"):
        AutogradeConfig(scratch_mb=0)
    with pytest.raises(ConfigError, match="memory_rss_mb must be positive"):
        SandboxConfig(memory_rss_mb=-1)
    assert SandboxConfig(memory_mb=2048).rss_mb == 2048 and SandboxConfig(memory_rss_mb=512).rss_mb == 512


# --- the grading machinery fails: one retry, then infrastructure_error -----------------------------------------

def _rows(course) -> dict:
    with open(course.course_dir / "autograde_results.csv", newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def test_machinery_failures_are_retried_once_then_infrastructure_error_until_a_rerun(
        sandbox, released_course, tmp_path, monkeypatch, capsys):
    from grader.autograde.gradebook import build_gradebook
    from grader.cli import main
    course = fresh_copy(released_course, tmp_path)
    rel = release_nb(course)
    for sid in ("f_once", "f_crash", "f_twice"):
        write_submission(course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb", rel, "good")
    # os._exit in the student's cell: their kernel died running their code (a cell output), their own outcome
    write_submission(course.course_dir / "submitted" / "f_student_crash" / "ps1" / "ps1.ipynb", rel, "crash")
    faults = tmp_path / "faults"
    faults.write_text("fail f_once/ps1\ncrash f_crash/ps1\nfail f_twice/ps1\nfail f_twice/ps1\n")
    monkeypatch.setenv("HW8_FAULT_FILE", str(faults))
    args = ["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--workers", "2",
            "--no-data", "--no-feedback", "--no-progress", "--cell-timeout", "30"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert faults.read_text() == ""                                  # every fault was used, each once
    rows = _rows(course)
    for sid in ("f_once", "f_crash"):                                # a second try, in a fresh worker: graded
        assert (rows[sid]["status"], rows[sid]["code_score"]) == ("graded", "2.0"), rows[sid]
        assert "graded on a second try" in rows[sid]["message"]
    assert "worker crashed" in rows["f_crash"]["message"]
    twice = rows["f_twice"]
    assert twice["status"] == "infrastructure_error" and twice["score"] == "" and twice["code_score"] == ""
    assert "failed twice" in twice["message"] and twice["message"].count("injected fault") == 2
    assert "1 infrastructure_error" in out and "a plain rerun grades them again" in out
    assert "f_twice/ps1: infrastructure_error" in out
    own = rows["f_student_crash"]
    assert own["status"] == "error" and "kernel died" in own["message"] and "second try" not in own["message"]

    # the gradebook: refused while a row is ungraded; the TA may count it as 0, never leave it out of the maximum
    gb_args = ["gradebook", "--source", str(course.source), "--course", str(course.course_dir),
               "--out", str(tmp_path / "grades")]
    assert main(gb_args) != 0
    err = capsys.readouterr().err
    assert "1 submission(s) not graded because the grading machinery failed (infrastructure_error): f_twice/ps1" \
        in err and "--accept-ungraded" in err
    assert not (tmp_path / "grades" / "grades.csv").exists()
    grades, warnings = build_gradebook(course)
    by = {g["id"]: g for g in grades}
    assert any(w.startswith("f_twice/ps1: not graded, the grading machinery failed") for w in warnings)
    assert (by["f_twice"]["code_raw"], by["f_twice"]["code_max"]) == (0.0, by["f_once"]["code_max"]) and \
        by["f_once"]["code_max"] > 0
    assert "ps1:infrastructure_error" in by["f_twice"]["status"]
    assert "not graded yet" in by["f_twice"]["notes"] and by["f_once"]["code_raw"] == 2.0
    assert main([*gb_args, "--accept-ungraded"]) == 0
    assert "warning: f_twice/ps1: not graded" in capsys.readouterr().out

    # a plain rerun keeps the graded rows and grades the infrastructure_error again
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(3 kept from an earlier run" in out
    again = _rows(course)
    assert (again["f_twice"]["status"], again["f_twice"]["code_score"]) == ("graded", "2.0")
    assert again["f_once"]["graded_at"] == rows["f_once"]["graded_at"]
    grades, warnings = build_gradebook(course)
    assert not [w for w in warnings if "infrastructure_error" in w]
    assert {g["id"]: g["code_raw"] for g in grades}["f_twice"] == 2.0


def test_a_scratch_is_a_quota_and_a_full_one_is_the_notebooks_doing(tmp_path):
    """Work folder, exports and the student's HOME share one tmpfs; the test kernel's HOME is another. A scratch
    found full when removed is noted: a grading failure then is the notebook's (``error``), not the machinery's."""
    from grader.autograde.sandbox import SandboxConfig, Scratch, take_full_scratch
    need_cgroups()
    take_full_scratch()
    s = Scratch(SandboxConfig(scratch_mb=4), tmp_path)
    try:
        with pytest.raises(OSError, match="No space left on device"):
            with open(s.work / "big", "wb") as f:
                for _ in range(8):
                    f.write(b"x" * (1 << 20))
                    f.flush()
        with pytest.raises(OSError, match="No space left on device"):
            (s.home_student / "more").write_bytes(b"x" * (1 << 20))
        (s.home_tests / "room").write_bytes(b"x" * (1 << 20))         # the test kernel's HOME is not theirs to fill
        assert s.quota
    finally:
        s.cleanup()
    assert take_full_scratch() == ["the notebook filled its writable folders (4 MiB of space)"]
    assert not s.root.exists() and list(tmp_path.iterdir()) == []
    s = Scratch(SandboxConfig(scratch_mb=4), tmp_path)
    s.cleanup()
    assert take_full_scratch() == []
