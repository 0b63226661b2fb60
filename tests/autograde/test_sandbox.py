"""The sandbox and the plain-data exchange, piece by piece (the whole attack corpus is in test_hostile.py).

- what a sandboxed process sees: only its own folders, the grading data's two files, the venv and starter_code,
  read-only; no kit package even if pip-installed into the venv; an unprivileged uid; no network; its own /proc;
- the exchange between the student's kernel and the test kernel carries data only: no unpickling, no code chosen
  by the student, no name the test kernel did not ask for;
- the test inputs the grader derives from a test's source, the release's imports, the release layout;
- no sandbox: a refusal, unless ``--unsafe-no-sandbox``, which every result row then records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.autograde.course import REPO_ROOT
from grader.autograde.exchange import NotPlainData, Unavailable, export, load
from grader.autograde.execute import free_names, release_imports, inputs_of_tests
from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.fixtures import write_submission


# --- what the grader derives from the tests and the release --------------------------------------------------

def test_test_inputs_are_the_names_a_test_reads_before_binding_them():
    assert free_names("x = y + 1\nfor i in x: z = i * w\nf = lambda a: a + g\nprint(x, q)\nt += 1") == \
        (["y", "w", "print", "q", "t", "g"], {"x", "i", "z", "f", "t"})
    tests = ["import numpy as np\nassert np.all(scores > 0)\nface = probes.rows('face')",
             "assert len(face) == n\n### BEGIN HIDDEN TESTS\n_extra = hidden_helper(face)\n### END HIDDEN TESTS"]
    # builtins and IPython's names are the test kernel's own; `face` comes from the first test, not the student
    assert inputs_of_tests(tests) == [["scores", "probes"], ["n", "hidden_helper"]]
    assert inputs_of_tests(["%matplotlib inline\nassert z == 1"]) == [["z"]]


def test_code_names_come_from_the_release_imports():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np\nimport os.path\n"
                                  "from starter_code import reconstruct as rec\nif True:\n    import json"),
        nbformat.v4.new_markdown_cell("import nothing")])
    assert release_imports(nb) == {"np": ["numpy", None], "os": ["os", None], "rec": ["starter_code", "reconstruct"],
                                   "json": ["json", None]}


# --- the exchange ------------------------------------------------------------------------------------------------

def test_plain_data_crosses_unchanged_and_code_does_not(tmp_path):
    from starter_code.config import TrainConfig
    cfg = TrainConfig(epochs=3, model_kwargs={"hidden": (8, 4)})
    student = {"arr": np.arange(6.0).reshape(2, 3), "d": {0: 2.0, "k": (1, None)}, "s": {1, 2}, "nan": float("nan"),
               "b": b"\x00\x01", "p": Path("/hw8/work/x.csv"), "scal": np.float32(1.5), "cfg": cfg,
               "np": np, "fn": lambda x: x, "obj": np.array([object()], dtype=object), "gen": (i for i in range(2)),
               "read": json.loads}
    export(0, list(student) + ["never_set"], student, str(tmp_path))
    mine = {"never_set": "stale value from an earlier test"}
    load(0, list(student) + ["never_set"], mine, str(tmp_path), code={"np": ["numpy", None], "read": ["json", "loads"]})
    assert np.array_equal(mine["arr"], student["arr"]) and mine["d"] == {0: 2.0, "k": (1, None)}
    assert mine["s"] == {1, 2} and np.isnan(mine["nan"]) and mine["b"] == b"\x00\x01"
    assert mine["p"] == Path("/hw8/work/x.csv") and mine["scal"] == np.float32(1.5) and type(mine["scal"]) is np.float32
    assert type(mine["cfg"]) is TrainConfig and mine["cfg"] == cfg and mine["cfg"] is not cfg
    assert mine["np"] is np and mine["read"] is json.loads           # the release's imports, not the student's
    for name in ("fn", "obj", "gen"):
        assert isinstance(mine[name], Unavailable)
        with pytest.raises(NotPlainData, match=f"`{name}`"):
            mine[name]()
    assert "never_set" not in mine                                   # the test gets Python's own NameError


def test_a_forged_export_is_data_or_nothing(tmp_path):
    """What a student's process can write into the export folder never runs code in the test kernel."""
    step = tmp_path / "0"
    step.mkdir()
    canary = tmp_path / "unpickled"
    # an .npy holding a pickle whose loading would create the canary
    evil = np.array([_Canary(str(canary))], dtype=object)
    np.save(step / "a0.npy", evil, allow_pickle=True)
    manifest = {
        "pickled": {"t": "ndarray", "f": "a0.npy"},
        "traversal": {"t": "ndarray", "f": "../../etc/passwd"},
        "popen": {"t": "dataclass", "module": "subprocess", "qualname": "Popen",
                  "fields": {"args": {"t": "v", "v": "id"}}},
        "os_system": {"t": "code", "type": "function"},
        "np": {"t": "code", "type": "module"},
        "bad_value": {"t": "v", "v": {"nested": "dict"}},
        "__builtins__": {"t": "v", "v": "replaced"},
        "not_asked": {"t": "v", "v": 1},
    }
    (step / "manifest.json").write_text(json.dumps(manifest))
    ns = {"__builtins__": __builtins__}
    load(0, ["pickled", "traversal", "popen", "os_system", "np", "bad_value", "__builtins__"], ns, str(tmp_path),
         code={"np": ["numpy", None]})
    assert not canary.exists()
    for name in ("pickled", "traversal", "popen", "os_system", "bad_value"):
        assert isinstance(ns[name], Unavailable), name
    assert ns["np"] is np and ns["__builtins__"] is __builtins__ and "not_asked" not in ns
    # nesting past the decoder's limit, and past json's own: a placeholder, or nothing at all
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "manifest.json").write_text('{"a": ' + '{"t": "list", "v": [' * 60 + ']}' * 60 + "}")
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "manifest.json").write_text('{"a": ' + '{"t": "list", "v": [' * 5000 + ']}' * 5000 + "}")
    ns = {}
    load(1, ["a"], ns, str(tmp_path))
    assert isinstance(ns["a"], Unavailable)
    load(2, ["a"], ns, str(tmp_path))
    assert "a" not in ns


class _Canary:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- what a sandboxed process sees -------------------------------------------------------------------------------

_PROBE = r"""
import json, os, socket, sys
out = {"uid": os.getuid(), "root": sorted(os.listdir("/")), "hw8": sorted(os.listdir("/hw8")),
       "data": sorted(os.listdir(os.environ["HW8_DATA_DIR"])), "pids": len([p for p in os.listdir("/proc")
       if p.isdigit()]), "hostname": socket.gethostname(), "env_secret": os.environ.get("HW8_TEST_SECRET"),
       "home": os.environ["HOME"]}
for path in ("/hw8/venv/x", "/usr/x", "/hw8/lib/starter_code/x", "/hw8/data/x", "/hw8/boot/x", "/x", "/hw8/work/ok"):
    try:
        open(path, "w").close()
        out[path] = "written"
    except OSError as e:
        out[path] = e.strerror
for mod in ("starter_code", "solutions", "grader", "kit", "okpkg"):
    try:
        __import__(mod)
        out[mod] = "imported"
    except Exception as e:
        out[mod] = type(e).__name__
try:
    socket.create_connection(("192.0.2.1", 80), timeout=2)
    out["net"] = "connected"
except OSError as e:
    out["net"] = e.strerror
print(json.dumps(out))
"""


def _run_inside(tmp_path, data_dir, venv=None) -> dict:
    from grader.autograde.sandbox import VENV, Boot, SandboxConfig, Scratch, wrap
    cfg = SandboxConfig()
    boot = Boot(tmp_path / "boot", cfg)
    scratch = Scratch(cfg, tmp_path)
    try:
        scratch.hand_over()
        os.environ["HW8_TEST_SECRET"] = "host-secret"
        argv = wrap([f"{VENV}/bin/python", "-c", _PROBE], cfg, scratch, boot, tests=False, data_dir=data_dir,
                    venv=venv)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        os.environ.pop("HW8_TEST_SECRET", None)
        scratch.cleanup()
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_sandboxed_process_sees_only_what_a_notebook_needs(sandbox, tmp_path, tiny_dataset):
    out = _run_inside(tmp_path, tiny_dataset.data_dir)
    if os.geteuid() == 0:
        assert out["uid"] != 0                      # a real unprivileged uid, not a namespace's mapped root
    assert set(out["root"]) <= {"bin", "dev", "etc", "hw8", "lib", "lib32", "lib64", "libx32", "proc", "root", "sbin",
                                "tmp", "usr"}       # (/root only when Python's own prefix lives there)
    assert out["hw8"] == ["boot", "data", "export", "home", "lib", "venv", "work"]
    assert out["data"] == ["testingset.npy", "trainingset.npy"]          # the answer key beside them is not there
    assert out["pids"] <= 3 and out["hostname"] == "sandbox" and out["env_secret"] is None
    assert out["home"] == "/hw8/home"
    for path in ("/hw8/venv/x", "/usr/x", "/hw8/lib/starter_code/x", "/hw8/data/x", "/hw8/boot/x", "/x"):
        assert out[path] in ("Read-only file system", "Permission denied"), (path, out[path])
    assert out["/hw8/work/ok"] == "written"
    assert out["starter_code"] == "imported"
    assert {out[m] for m in ("solutions", "grader", "kit")} == {"ModuleNotFoundError"}
    assert out["net"] == "Network is unreachable"


def test_kit_packages_pip_installed_into_the_venv_stay_outside(sandbox, tmp_path, tiny_dataset):
    """A non-editable install puts grader/ and solutions/ into site-packages; an editable one a .pth to the kit."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    for pkg in ("grader", "solutions", "okpkg"):
        (site / pkg).mkdir()
        (site / pkg / "__init__.py").write_text("")
    (site / "kit_editable.pth").write_text(str(REPO_ROOT) + "\n")
    out = _run_inside(tmp_path, tiny_dataset.data_dir, venv=venv)
    assert out["okpkg"] == "imported"                            # the rest of the venv is there
    assert out["grader"] == out["solutions"] == out["kit"] == "ModuleNotFoundError"


def test_the_bwrap_command_binds_nothing_secret(sandbox, tmp_path, tiny_dataset):
    from grader.autograde.sandbox import Boot, SandboxConfig, Scratch, wrap
    cfg = SandboxConfig()
    scratch = Scratch(cfg, tmp_path)
    argv = wrap(["true"], cfg, scratch, Boot(tmp_path / "boot", cfg), tests=False, data_dir=tiny_dataset.data_dir)
    scratch.cleanup()
    binds = [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    sources = [src for src, _ in binds]
    assert "/" not in sources and "/etc" not in sources and "/etc/shadow" not in sources and "/proc" not in sources
    assert not any(s.startswith(str(tiny_dataset.answers_dir)) for s in sources)
    # the data's two files (a TA's 0600 files as a readable copy), nothing else of its folder
    assert sorted(dest for _, dest in binds if dest.startswith("/hw8/data")) == \
        ["/hw8/data/testingset.npy", "/hw8/data/trainingset.npy"]
    assert [s for s in sources if s.startswith(str(tiny_dataset.data_dir))] in \
        ([], [str(tiny_dataset.data_dir / "trainingset.npy"), str(tiny_dataset.data_dir / "testingset.npy")])
    under_kit = {s for s in sources if s.startswith(str(REPO_ROOT) + "/")}
    assert under_kit <= {str(REPO_ROOT / "starter_code"), str(REPO_ROOT / "common"), str(Path(sys.prefix).resolve())}
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--new-session",
                 "--clearenv"):
        assert flag in argv
    if os.geteuid() == 0:
        assert "/usr/bin/setpriv" in argv and "--no-new-privs" in argv


# --- without a sandbox -------------------------------------------------------------------------------------------

def test_no_sandbox_is_a_refusal_unless_the_ta_says_unsafe(released_course, tmp_path, monkeypatch, capsys):
    from grader.autograde import run
    from grader.cli import main
    from grader.errors import GraderError
    monkeypatch.setattr(run, "unavailable_reason", lambda cfg=None: "user namespaces are disabled here")
    course = fresh_copy(released_course, tmp_path)
    write_submission(course.course_dir / "submitted" / "u1" / "ps1" / "ps1.ipynb", release_nb(course), "good")
    with pytest.raises(GraderError, match="--unsafe-no-sandbox"):
        run.autograde(course, run.AutogradeConfig(workers=1), progress=False)
    assert main(["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--no-data"]) == 1
    err = capsys.readouterr().err
    assert "user namespaces are disabled here" in err and "--unsafe-no-sandbox" in err
    assert not (course.course_dir / "autograde_results.csv").exists()


def test_unsafe_no_sandbox_grades_and_says_so_in_every_row(released_course, tmp_path, capsys):
    import csv

    from grader.autograde.results import UNSANDBOXED
    from grader.cli import main
    course = fresh_copy(released_course, tmp_path)
    rel = release_nb(course)
    write_submission(course.course_dir / "submitted" / "u1" / "ps1" / "ps1.ipynb", rel, "good")
    write_submission(course.course_dir / "submitted" / "u2" / "ps1" / "ps1.ipynb", rel, "not_a_notebook")
    assert main(["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--no-data",
                 "--unsafe-no-sandbox", "--workers", "1", "--no-progress", "--no-feedback"]) == 0
    cap = capsys.readouterr()
    assert "WARNING: --unsafe-no-sandbox" in cap.err and UNSANDBOXED in cap.out
    rows = {r["student"]: r for r in csv.DictReader(open(course.course_dir / "autograde_results.csv"))}
    assert {r["sandbox"] for r in rows.values()} == {UNSANDBOXED}
    assert rows["u1"]["status"] == "graded" and float(rows["u1"]["code_score"]) == 2.0


def test_matplotlibs_font_list_is_built_once_for_the_graders_user_and_kernels_use_their_copy(tmp_path, monkeypatch):
    """Every worker's ``Boot`` copies the same font list into each kernel's fresh HOME; it is built once per
    matplotlib version in the grader's cache folder, or in the worker's own folder where none can be made."""
    from grader.autograde import sandbox
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = sandbox.font_cache(fallback=tmp_path / "own")
    assert folder.parent == tmp_path / "cache" / "hw8-kit" and folder.name.startswith("matplotlib-")
    (made,) = folder.iterdir()                     # the list alone: nothing half-made left beside it
    assert made.name.startswith("fontlist-") and json.loads(made.read_text())["ttflist"]

    home = tmp_path / "home"                       # a kernel's HOME, seeded as Boot.seed_home seeds it
    mpl = home / ".config" / "matplotlib"
    mpl.mkdir(parents=True)
    (mpl / made.name).write_bytes(made.read_bytes())
    seeded = (mpl / made.name).stat().st_mtime_ns
    kernel = subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], capture_output=True, text=True,
                            env={**os.environ, "MPLCONFIGDIR": str(mpl), "MPLBACKEND": "Agg"}, timeout=120)
    assert kernel.returncode == 0, kernel.stderr
    # read, not rebuilt: matplotlib writes the list again only when it had to build one
    assert [p.name for p in mpl.iterdir()] == [made.name] and (mpl / made.name).stat().st_mtime_ns == seeded

    def no_build(*args, **kwargs):
        raise AssertionError(f"built again: {args}")
    with monkeypatch.context() as m:
        m.setattr(sandbox.subprocess, "run", no_build)
        assert sandbox.font_cache(fallback=tmp_path / "own") == folder

    (tmp_path / "file").write_text("")             # no cache folder can be made under a file
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    own = sandbox.font_cache(fallback=tmp_path / "own")
    assert own == tmp_path / "own" and [p.name for p in own.iterdir()] == [made.name]
