"""The same grading fanned out to a Dask cluster (LocalCluster, 2 worker processes), with SQLite and PostgreSQL."""
from __future__ import annotations


import pytest

from grader.autograde.fixtures import write_submission
from tests.autograde.conftest import fresh_copy, release_nb

KINDS = {"d1": "good", "d2": "blank", "d3": "infinite_loop", "d4": "good"}


@pytest.fixture(scope="module")
def dask_client():
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
    assert {s: r.status for s, r in res.items()} == {"d1": "graded", "d2": "graded", "d3": "timeout",
                                                      "d4": "graded"}
    assert res["d1"].code_score == 2.0 and res["d4"].code_score == 2.0 and res["d2"].code_score == 0.0
    # each Dask worker keeps one long-lived grading process
    assert 1 <= len({r.worker_pid for r in res.values()}) <= 2


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
    monkeypatch.setenv("PATH", "/usr/bin:/bin")      # nbgrader's alembic must still be found for a new gradebook
    course = CourseConfig(source=released_course.source, course_dir=tmp_path / "c", db_url=pg_url)
    release(course)
    kinds = {"d1": "good", "d2": "blank"}
    res = _grade(course, dask_client, kinds)
    assert {s: (r.status, r.code_score) for s, r in res.items()} == {"d1": ("graded", 2.0), "d2": ("graded", 0.0)}
    with open_gradebook(course) as gb:
        assert gb.find_submission("ps1", "d1").score == 2.0
        assert {s.id for s in gb.students} == set(kinds)
    assert not (course.course_dir / "gradebook.db").exists()
