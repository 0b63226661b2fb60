"""Where a course lives (``CourseConfig``) and the nbgrader configuration and API built from it."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from common.config import Config, add_config_arguments, config_overrides
from grader.errors import ConfigError, UnknownKeyError

#: Repository root (holds ``assignments/`` and ``starter_code/``).
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CourseConfig(Config):
    """The TA's course: nbgrader source notebooks, a working directory and a gradebook."""
    key_error = UnknownKeyError
    source: Path = field(default=REPO_ROOT / "assignments", metadata={
        "help": "Folder with nbgrader_config.py (optional) and source/<assignment>/*.ipynb."})
    course_dir: Path = field(default=Path(".cache/course"), metadata={
        "help": "nbgrader course root: release/, submitted/, autograded/, feedback/, gradebook.db."})
    db_url: str | None = field(default=None, metadata={
        "help": "Gradebook URL (nbgrader's db_url): default sqlite:///COURSE_DIR/gradebook.db; "
                "postgresql+psycopg://... when workers live on several machines."})
    course_id: str = field(default="hw8", metadata={"help": "nbgrader course id stored in the gradebook."})

    def __post_init__(self):
        self.source = Path(self.source)
        self.course_dir = Path(self.course_dir)

    @property
    def source_dir(self) -> Path:
        """``<source>/source``: one folder per assignment."""
        return self.source / "source"

    @property
    def url(self) -> str:
        # timeout: several workers share one SQLite file; wait for a lock instead of failing a submission.
        return self.db_url or f"sqlite:///{(self.course_dir / 'gradebook.db').resolve()}?timeout=60"

    def assignments(self) -> list[str]:
        """Assignment ids (folders of ``source_dir`` holding at least one notebook), sorted."""
        if not self.source_dir.is_dir():
            raise ConfigError(f"{self.source_dir}: no nbgrader source folder (expected source/<assignment>/*.ipynb)")
        return sorted(p.name for p in self.source_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def notebooks(self, assignment: str) -> list[str]:
        """Notebook names (without .ipynb) of one assignment, sorted."""
        return sorted(p.stem for p in (self.source_dir / assignment).glob("*.ipynb"))

    def to_dict(self) -> dict:
        """JSON-friendly (paths as text): what a worker process receives."""
        return {"source": str(self.source), "course_dir": str(self.course_dir), "db_url": self.db_url,
                "course_id": self.course_id}


def add_course_arguments(parser: argparse.ArgumentParser) -> None:
    """``--source``, ``--course`` and ``--db-url``, with defaults and help from :class:`CourseConfig`."""
    add_config_arguments(parser, CourseConfig, only=("source", "course_dir", "db_url"),
                         flags={"course_dir": "--course"}, shown={"source": "the kit's assignments/"})


def course_from_args(args) -> CourseConfig:
    return CourseConfig.from_dict(config_overrides(args, CourseConfig))


def nbgrader_config(course: CourseConfig, **extra):
    """A traitlets ``Config``: the course's ``nbgrader_config.py`` (if any), then our paths, then ``extra``.

    ``extra`` maps ``"Class.trait"`` to a value, e.g. ``{"Execute.timeout": 10}``.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    c = Config()
    cfg_file = course.source / "nbgrader_config.py"
    if cfg_file.is_file():
        c.merge(PyFileConfigLoader(cfg_file.name, path=str(cfg_file.parent)).load_config())
    c.CourseDirectory.root = str(course.course_dir.resolve())
    # An absolute step name makes nbgrader's os.path.join ignore the root: the sources stay where they are.
    c.CourseDirectory.source_directory = str(course.source_dir.resolve())
    c.CourseDirectory.db_url = course.url
    c.CourseDirectory.course_id = course.course_id
    # We never use nbgrader's exchange; a private root keeps NbGraderAPI from complaining about /usr/local/share.
    c.Exchange.root = str((course.course_dir / ".exchange").resolve())
    for key, value in extra.items():
        cls, _, trait = key.partition(".")
        setattr(c[cls], trait, value)
    return c


def make_api(course: CourseConfig, **extra):
    """An ``NbGraderAPI`` on ``course`` (nbgrader prepared first: ``env.prepare_nbgrader``)."""
    from grader.autograde.env import prepare_nbgrader
    prepare_nbgrader()
    (course.course_dir / ".exchange").mkdir(parents=True, exist_ok=True)
    import logging
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    config = nbgrader_config(course, **extra)
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log.setLevel(logging.WARNING)
    return api


def open_gradebook(course: CourseConfig):
    """nbgrader's ``Gradebook`` on the course's database (a context manager); a SQLite file is made private first."""
    from grader.autograde.env import prepare_nbgrader
    prepare_nbgrader()
    from nbgrader.api import Gradebook
    gb = Gradebook(course.url, course.course_id)       # creates the SQLite file if it is new
    protect_gradebook_db(course)
    return gb


def protect_gradebook_db(course: CourseConfig) -> None:
    """``chmod 0600`` the SQLite gradebook (and its journal files) if the course uses one: grades are secrets."""
    url = course.url
    if not url.startswith("sqlite:///"):
        return
    db = Path(url[len("sqlite:///"):].split("?", 1)[0])
    for p in (db, db.with_name(db.name + "-journal"), db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if p.is_file():
            os.chmod(p, 0o600)


def utc_naive(when: datetime) -> datetime:
    """nbgrader stores due dates as naive UTC."""
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def assignments_due(course: CourseConfig, assignments: list[str], now: datetime | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    """(assignments graded as of ``now``, {assignment: why not yet}): released (in nbgrader's gradebook) and past
    its due date, or released without one."""
    from nbgrader.api import MissingEntry
    now = utc_naive(now or datetime.now(timezone.utc))
    due, later = [], {}
    with open_gradebook(course) as gb:
        for a in assignments:
            try:
                when = gb.find_assignment(a).duedate
            except MissingEntry:
                later[a] = "not released"
                continue
            if when is not None and when > now:
                later[a] = f"due {when.isoformat(sep=' ', timespec='minutes')} UTC"
            else:
                due.append(a)
    return due, later
