"""Shared fixtures: one tiny generated data set per test session (no binary fixtures in git).

``tiny_dataset`` is built once with ``data_tools.build.build_dataset`` on the ``tiny`` preset (256 train,
64 normal + 64 anomalous test, every default anomaly kind; ~3-5 s on 2 cores) into a session tmp dir.
Its arrays are read-only: copy before modifying.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from common.answer_key import AnswerKey, load_answer_key
from data_tools.io import DatasetPaths


@dataclass(frozen=True)
class TinyDataset:
    """A built data set: ``paths.data`` (student side) holds the .npy files, ``paths.answers`` the key."""
    paths: DatasetPaths
    train: np.ndarray      # (256, 64, 64, 3) uint8, read-only
    test: np.ndarray       # (128, 64, 64, 3) uint8, read-only; row index = ID
    key: AnswerKey         # labels/usage/kinds aligned with ``test``
    manifest: dict

    @property
    def data_dir(self) -> Path:
        return self.paths.data

    @property
    def answers_dir(self) -> Path:
        return self.paths.answers


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _tiny(tmp_path_factory, name: str, **overrides) -> TinyDataset:
    from data_tools.build import BuildConfig, build_dataset  # imports torch: only when a test asks for data

    root = tmp_path_factory.mktemp(name)
    config = BuildConfig.from_preset("tiny", seed=0, **overrides)
    result = build_dataset(config, root / "data", root / "answers", progress=False)
    p = result.paths
    return TinyDataset(paths=p, train=_read_only(np.load(p.train)), test=_read_only(np.load(p.test)),
                       key=load_answer_key(p.solution), manifest=result.manifest)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> TinyDataset:
    """The tiny preset, seed 0, as builds make it by default: what students' data looks like."""
    return _tiny(tmp_path_factory, "tiny_dataset")


@pytest.fixture(scope="session")
def tiny_v1(tmp_path_factory) -> TinyDataset:
    """The tiny preset, seed 0, with version 1's anomaly kinds (and mixture)."""
    return _tiny(tmp_path_factory, "tiny_v1", kinds_version=1)


@pytest.fixture(scope="session")
def grading_tiny(tmp_path_factory) -> TinyDataset:
    """The tiny preset, seed 0, with the anomaly kinds the autograder builds its grading data with
    (``grader.autograde.probes.GRADING_KINDS_VERSION``): the tests' grading data."""
    from grader.autograde.probes import GRADING_KINDS_VERSION
    return _tiny(tmp_path_factory, "grading_tiny", kinds_version=GRADING_KINDS_VERSION)


# ------------------------------------------------------------------------------------------------ PostgreSQL
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    return Path(w).parent if w else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    port: int
    counter = itertools.count()

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """A fresh empty database in the cluster; returns its SQLAlchemy URL."""
        import psycopg
        name = f"t{os.getpid()}_{next(self.counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def pg_cluster():
    """Start a throwaway cluster (trust auth, loopback only, fsync off: a test cluster) and stop it at the end.

    Shared by the leaderboard store tests and the autograder's PostgreSQL gradebook test. Skips with a printed
    reason only where no PostgreSQL binary exists, and fails instead when the CI variable is set."""
    bindir = _pg_bin()
    if bindir is None:
        reason = "no PostgreSQL binaries (initdb) found; apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} — CI must run the PostgreSQL tests")
        print(f"SKIP postgres: {reason}")
        pytest.skip(reason)
    root = os.geteuid() == 0
    tmp = tempfile.mkdtemp(prefix="test_pg_")
    data = os.path.join(tmp, "data")
    port = _free_port()

    def as_pg(cmd: list[str]) -> subprocess.CompletedProcess:
        # PostgreSQL refuses to run as root: run its tools as the postgres OS user then.
        cmd = (["runuser", "-u", "postgres", "--"] + cmd) if root else cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    if root:
        shutil.chown(tmp, "postgres", "postgres")
    r = as_pg([str(bindir / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
    assert r.returncode == 0, r.stderr
    r = as_pg([str(bindir / "pg_ctl"), "-D", data, "-l", os.path.join(tmp, "log"), "-w", "-t", "60", "-o",
               f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"])
    assert r.returncode == 0, r.stderr + r.stdout
    try:
        yield PgCluster(port)
    finally:
        as_pg([str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ chromium
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright (never a downloaded browser). Skips with the reason where chromium is
    missing; fails instead when the CI variable is set."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} not found; apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} — CI must run the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
