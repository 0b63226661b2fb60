"""Notebook release, collection, autograding at class scale, the gradebook and a similarity report.

Commands (``python -m grader <command>``): ``release``, ``collect``, ``autograde``, ``gradebook``, ``similarity``.
Every module here imports only the standard library at import time (nbgrader, dask and pandas are imported where they
are used), so ``python -m grader score`` stays fast, and nothing here ever imports torch.

Course directory (nbgrader's layout; default ``.cache/course``)::

    gradebook.db                       nbgrader's gradebook (or PostgreSQL by --db-url)
    release/<assignment>/              nbgrader's student version
    student_release/                   what students get: notebooks, starter_code/ (pip-installable), README.md,
                                       requirements.txt, data/README.md; student_zips/ holds the same as zips
    rubrics/<assignment>.md            the written answers' rubrics and model answers (graders only)
    submitted/<student>/<assignment>/  written by ``collect``
    autograded/<student>/<assignment>/ and feedback/<student>/<assignment>/*.html
    autograde_results.csv              one row per (student, assignment): status, score, tampering, how the code
                                       was confined (sandbox), what was graded (submission_sha256) and when
    logs/                              one log per worker process

``python -m grader autograde`` is four modules: ``run.py``, the supervisor (what to grade, each result recorded as
it comes, the command), hands submissions to ``pool.py`` (long-lived ``worker.py`` processes on this machine) or
``dask_pool.py`` (the same tasks on a Dask cluster), and ``results.py`` holds ``autograde_results.csv``. Every module
is listed in README.md, "Modules".

Autograding runs every notebook in two bubblewrap sandboxes (``sandbox.py``, ``execute.py``): the student's cells
in one, the tests in another that never ran student code and receives plain data (``exchange.py``). What is and
is not isolated: README.md, "Security".
"""
