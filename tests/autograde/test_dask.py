"""The same grading fanned out to a Dask cluster (LocalCluster, 2 worker processes), with SQLite and PostgreSQL;
over TLS (the only way to a scheduler beyond this machine); a worker without the kit says what it misses."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.autograde.conftest import fresh_copy, release_nb
from tests.autograde.fixtures import write_submission

KINDS = {"d1": "good", "d2": "blank", "d3": "infinite_loop", "d4": "good"}


@pytest.fixture(scope="module")
def dask_client(sandbox):
    from dask.distributed import Client, LocalCluster
    cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                           host="127.0.0.1")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def _grade(course, client, kinds=KINDS):
    from grader.autograde.run import AutogradeConfig, autograde
    rel = release_nb(course)
    for sid, kind in kinds.items():
        write_submission(course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb", rel, kind)
    cfg = AutogradeConfig(cell_timeout=5, notebook_timeout=120, feedback=False)
    return {r.student: r for r in autograde(course, cfg, dask_scheduler=client, progress=False)}


def _check(res):
    from grader.autograde.results import SANDBOXED
    assert {s: r.status for s, r in res.items()} == {"d1": "graded", "d2": "graded", "d3": "timeout",
                                                      "d4": "graded"}
    assert {r.sandbox for r in res.values()} == {SANDBOXED}        # Dask workers grade in the same sandbox
    assert res["d1"].code_score == 2.0 and res["d4"].code_score == 2.0 and res["d2"].code_score == 0.0
    # each Dask worker keeps one long-lived grading process
    assert 1 <= len({r.worker_pid for r in res.values()}) <= 2


@pytest.mark.slow  # the same batch is graded over Dask with PostgreSQL, and over TLS with SQLite, in the fast tier
def test_dask_local_cluster_sqlite(released_course, tmp_path, dask_client, capsys):
    import csv

    from grader.cli import main
    course = fresh_copy(released_course, tmp_path)
    _check(_grade(course, dask_client))
    # the CLI reaches the same cluster by its scheduler address
    rc = main(["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--student", "d1",
               "--dask-scheduler", dask_client.scheduler.address, "--no-progress", "--no-feedback", "--no-data"])
    assert rc == 0 and "1 submissions" in capsys.readouterr().out
    rows = {r["student"]: r for r in csv.DictReader(open(course.course_dir / "autograde_results.csv"))}
    assert rows["d1"]["status"] == "graded" and float(rows["d1"]["code_score"]) == 2.0


@pytest.fixture(scope="module")
def pg_url(pg_cluster):
    """A fresh database in the session's throwaway PostgreSQL cluster (tests/conftest.py)."""
    return pg_cluster.new_database()


@pytest.mark.postgres
def test_dask_with_postgresql_gradebook(released_course, tmp_path, dask_client, pg_url, monkeypatch):
    """Workers on several machines share a gradebook server: release and grade into PostgreSQL by URL."""
    from grader.autograde.course import CourseConfig, open_gradebook
    from grader.autograde.release import release
    monkeypatch.setenv("PATH", "/usr/bin:/bin")      # a new gradebook must still be stamped
    course = CourseConfig(source=released_course.source, course_dir=tmp_path / "c", db_url=pg_url)
    release(course)
    kinds = {"d1": "good", "d2": "blank"}
    res = _grade(course, dask_client, kinds)
    assert {s: (r.status, r.code_score) for s, r in res.items()} == {"d1": ("graded", 2.0), "d2": ("graded", 0.0)}
    with open_gradebook(course) as gb:
        assert gb.find_submission("ps1", "d1").score == 2.0
        assert {s.id for s in gb.students} == set(kinds)
    assert not (course.course_dir / "gradebook.db").exists()


# --- TLS and workers that cannot grade ---------------------------------------------------------------------------

def _certificates(folder):
    """A throwaway CA and one certificate for 127.0.0.1 signed by it (openssl), as PEM files."""
    run = lambda *a: subprocess.run(["openssl", *a], cwd=folder, check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=hw8-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "node.pem", "-days", "2", "-extfile", "san.ext")
    return folder / "ca.pem", folder / "node.pem", folder / "node.key"


def test_dask_over_tls_and_plain_tcp_only_on_this_machine(sandbox, released_course, tmp_path, capsys):
    import shutil

    from dask.distributed import LocalCluster
    from distributed.security import Security

    from grader.cli import main
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is missing: CI must run the Dask TLS test (.ci/run installs it)")
        pytest.skip("openssl is needed to make test certificates")
    ca, cert, key = _certificates(tmp_path)
    sec = Security(tls_ca_file=str(ca), tls_scheduler_cert=str(cert), tls_scheduler_key=str(key),
                   tls_worker_cert=str(cert), tls_worker_key=str(key), tls_client_cert=str(cert),
                   tls_client_key=str(key), require_encryption=True)
    course = fresh_copy(released_course, tmp_path)
    write_submission(course.course_dir / "submitted" / "t1" / "ps1" / "ps1.ipynb", release_nb(course), "good")
    common = ["autograde", "--source", str(course.source), "--course", str(course.course_dir), "--no-progress",
              "--no-feedback", "--no-data"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tls://", host="127.0.0.1",
                      security=sec, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        assert main(common + ["--dask-scheduler", address]) == 1          # TLS without certificates: refused
        assert "needs --dask-tls-ca-file" in capsys.readouterr().err
        assert main(common + ["--dask-scheduler", address, "--dask-tls-ca-file", str(ca), "--dask-tls-cert",
                              str(cert), "--dask-tls-key", str(key)]) == 0
    assert "1 graded" in capsys.readouterr().out
    # an unencrypted scheduler on another machine is refused before anything connects
    assert main(common + ["--dask-scheduler", "tcp://10.0.0.5:8786"]) == 1
    assert "must use TLS" in capsys.readouterr().err


def test_a_worker_that_cannot_import_the_kit_says_what_is_missing(sandbox, released_course, tmp_path):
    from dask.distributed import Client, LocalCluster

    from grader.autograde.run import AutogradeConfig, autograde
    from grader.errors import GraderError
    block = tmp_path / "block_kit.py"
    block.write_text(
        "import sys\n"
        "class _NoKit:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('grader', 'starter_code'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _NoKit())\n")
    course = fresh_copy(released_course, tmp_path)
    write_submission(course.course_dir / "submitted" / "w1" / "ps1" / "ps1.ipynb", release_nb(course), "good")
    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                   "--nthreads", "1", "--no-dashboard", "--preload", str(block)], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Client(cluster) as client:
                client.wait_for_workers(1, timeout=120)
                with pytest.raises(GraderError, match="cannot import grader.autograde.worker") as err:
                    autograde(course, AutogradeConfig(cell_timeout=20, feedback=False), dask_scheduler=client,
                              progress=False)
                assert "Error during deserialization" not in str(err.value)
                assert "tcp://127.0.0.1:" in str(err.value)               # which worker
        finally:
            worker.kill()
            worker.wait()
