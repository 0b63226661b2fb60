"""``python -m grader feedback``: rewrite the students' feedback pages from the gradebook, and pack them for delivery.

The pages (``COURSE/feedback/<id>/<assignment>/<notebook>.html``, 0600) are written by ``autograde`` and show the
gradebook as it was then. After hand grading (``gradebook --report-scores`` or formgrader) this command writes them
again from the gradebook, with the manual scores and comments; nothing is executed. ``gradebook`` reminds the TA
when a page is older than its hand grading (``feedback.stale_feedback``).

``--zip DIR`` also writes ``DIR/<id>.zip`` per student (0600, in a 0700 folder) holding only that student's pages
as ``<assignment>/<notebook>.html``: one file per student to attach to their LMS submission or send them.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from common.files import write_private
from grader.autograde.course import CourseConfig, add_course_arguments, course_from_args
from grader.errors import GraderError

HELP = "Rewrite the feedback pages after hand grading (nothing runs again); --zip DIR packs one zip per student."


def zip_feedback(course: CourseConfig, out: Path, assignments: list[str] | None = None,
                 students: list[str] | None = None) -> list[Path]:
    """``out/<id>.zip`` per student with feedback pages (of ``assignments``, default all), each holding only their
    pages; returns the zips written. Entries are dated by their page, so a zip says when its pages were made."""
    root = Path(course.course_dir) / "feedback"
    out = Path(out)
    if root.resolve() in [out.resolve(), *out.resolve().parents]:
        raise GraderError(f"--zip {out}: inside the feedback folder {root}; choose a folder outside it")
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    written = []
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if students and sdir.name not in students:
            continue
        pages = sorted(p for p in sdir.glob("*/*.html")
                       if p.is_file() and not p.is_symlink() and (not assignments or p.parent.name in assignments))
        if not pages:
            continue
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for page in pages:
                info = zipfile.ZipInfo(page.relative_to(sdir).as_posix(), _zip_time(page.stat().st_mtime))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                zf.writestr(info, page.read_bytes())
        written.append(write_private(out / f"{sdir.name}.zip", buf.getvalue()))
    return written


def _zip_time(mtime: float) -> tuple:
    import time
    return max(time.gmtime(mtime)[:6], (1980, 1, 1, 0, 0, 0))


# --- CLI -------------------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    add_course_arguments(parser)
    parser.add_argument("--assignment", action="append", dest="assignments", default=None,
                        help="assignment id (repeatable; default: every autograded one)")
    parser.add_argument("--student", action="append", dest="students", default=None,
                        help="student id (repeatable; default: every student with an autograded submission)")
    parser.add_argument("--zip", type=Path, default=None, metavar="DIR",
                        help="also write DIR/<id>.zip per student with their pages (0600), to hand back one by one")
    parser.add_argument("--no-rewrite", action="store_true",
                        help="pack the pages as they are (with --zip), without writing them again first")


def run(args) -> int:
    course = course_from_args(args)
    errors = []
    if not args.no_rewrite:
        from grader.autograde.feedback import regenerate_feedback
        pages, errors = regenerate_feedback(course, args.assignments, args.students)
        for e in errors:
            print(f"  {e}")
        print(f"wrote {len(pages)} feedback page(s) in {course.course_dir / 'feedback'}")
    elif args.zip is None:
        raise GraderError("--no-rewrite does nothing without --zip DIR")
    if args.zip is not None:
        zips = zip_feedback(course, args.zip, args.assignments, args.students)
        print(f"packed {len(zips)} student zip(s) in {args.zip} (one per student, only their own pages)")
    return 1 if errors else 0
