"""A whole term on tiny data through the TA's public commands, checked at every step (``python -m kit rehearse``).

    data -> init -> serve -> links -> release -> uploads -> LMS zip -> late batch -> autograde -> hand scores
    -> gradebook + LMS export -> feedback -> similarity -> backup -> restore -> tokens -> screenshots

Each step runs the command a TA would type (``python -m data_tools ...`` / ``python -m grader ...`` in a
subprocess; the leaderboard through HTTP on 127.0.0.1), then checks its numbers (uploads counted, board rows,
autograde statuses, grade totals) and the mode of every file it wrote (TA-only files 0600, submission folders
0700, the student bundle readable). One line per step with its wall time; the first failed check stops the run
with exit code 1 and says what was expected. ``--workdir`` (default ``.cache/rehearsal``; an earlier rehearsal's is emptied
first, any other non-empty folder refused) keeps everything for a look afterwards, the screenshots of the public board, a student's page and the TA page at 1280
and 390 px wide in ``WORKDIR/screenshots/``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.config import Config, add_config_arguments, config_overrides

REPO = Path(__file__).resolve().parents[1]
#: The released assignment the simulated students hand in and autograde runs (the kit's first notebook).
CODE_ASSIGNMENT = "01_simple"
REPORT_ASSIGNMENT = "05_report"
#: What a student who solved 01_simple writes in place of the stub, with starter_code only (the sandboxed notebook
#: cannot import the kit's ``solutions``).
SOLVED_01 = ("model, history = build_and_fit(train, cfg)\n"
             "scores = anomaly_scores(model, test)")
#: What students get in the course folder (the TA guide's "What stays secret"); everything else is TA-only.
STUDENT_FOLDERS = ("release", "student_release", "student_zips")
BASELINE_NAMES = ("simple", "medium", "strong", "boss")
#: Marks a rehearsal's folder: the only kind of non-empty folder a run empties.
MARKER = ".kit-rehearsal"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDTHS = (1280, 390)


class RehearsalFailed(Exception):
    """A check of the rehearsal failed: the message says which step, what was expected and what was found."""


@dataclass
class RehearseConfig(Config):
    """What the rehearsal builds and drives; ``python -m kit rehearse`` has one option per field."""
    workdir: Path = field(default=Path(".cache/rehearsal"), metadata={"help": "folder for the whole term "
                                                                             "(an earlier rehearsal's is emptied)"})
    students: int = field(default=10, metadata={"help": "simulated students (at least 6: each plays a part)"})
    browser: bool = field(default=True, metadata={"help": "take screenshots of the pages with Debian's chromium "
                                                          "(--no-browser: none)"})
    workers: int = field(default=2, metadata={"help": "autograde worker processes"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, RehearseConfig)


def run(args) -> int:
    cfg = RehearseConfig.from_dict(config_overrides(args, RehearseConfig))
    try:
        rehearse(cfg)
    except RehearsalFailed as e:
        print(f"REHEARSAL FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


# ------------------------------------------------------------------------------------------------ checks
def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def check(ok: bool, what: str) -> None:
    if not ok:
        raise RehearsalFailed(what)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def check_mode(p: Path, want: int) -> None:
    check(p.exists(), f"{p} was not written")
    check(mode(p) == want, f"{p} is {mode(p):o}, the guide says {want:o}")


def check_private_tree(root: Path) -> int:
    """Every file under ``root`` 0600-or-stricter for others (no group/other bits), the submission folders 0700,
    outside the student folders; the number of files looked at."""
    n = 0
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] in STUDENT_FOLDERS or p.is_symlink():
            continue
        if p.is_file():
            n += 1
            check(not mode(p) & 0o077, f"TA-only file {p} is {mode(p):o}: group or others can read it")
        elif p.is_dir() and rel.parts[0] == "submitted":
            check(mode(p) == 0o700, f"submission folder {p}/ is {mode(p):o}, the guide says 700")
    return n


def check_readable_bundle(root: Path) -> int:
    """The student bundle: every file readable by others (it is uploaded to the LMS as it is)."""
    n = 0
    for p in root.rglob("*"):
        if p.is_file():
            n += 1
            check(mode(p) & 0o004, f"student bundle file {p} is {mode(p):o}: not readable")
    check(n > 0, f"the student bundle {root} is empty")
    return n


# ------------------------------------------------------------------------------------------------ the run
class Term:
    """The term's folders, the running server and the simulated students, with one method per step."""

    def __init__(self, cfg: RehearseConfig):
        check(cfg.students >= 6, "--students must be at least 6 (each of the first six plays a part)")
        self.cfg = cfg
        self.work = Path(cfg.workdir).resolve()
        self.data, self.answers = self.work / "data", self.work / "answers"
        self.term, self.course = self.work / "term", self.work / "course"
        self.comp = self.term / "competition.toml"
        self.server: subprocess.Popen | None = None
        self.url = ""
        self.log = self.work / "logs"
        self.steps: list[tuple[str, float]] = []
        now = datetime.now(UTC).replace(microsecond=0)
        self.now = now
        # Students: ids, names (one non-ASCII), LMS ids; the parts they play are fixed by position.
        names = ["Ada Lovelace", "Alan Turing", "Nguyễn Văn An", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov",
                 "Donald Knuth", "Frances Allen", "John Backus", "Radia Perlman", "Ken Thompson", "Margaret Hamilton"]
        self.students = [{"id": f"b129010{i + 1:02d}",
                          "name": names[i % len(names)] + ("" if i < len(names) else f" {i}"),
                          "email": f"s{i + 1}@example.edu", "lms_id": str(20001 + i)} for i in range(cfg.students)]
        ids = [s["id"] for s in self.students]
        self.limit_student, self.invalid_student, self.non_ascii = ids[0], ids[1], ids[2]
        self.blank_student, self.no_show, self.late_student = ids[3], ids[4], ids[-1]
        # Everyone but the no-show hands in 01_simple: the blank one the release unchanged, the late one later.
        self.on_time = [i for i in ids if i not in (self.no_show, self.late_student)]
        self.uploaders = [i for i in ids if i != self.no_show]

    # -- plumbing
    def cmd(self, *argv: str, module: str = "grader", expect: int = 0) -> str:
        """Run ``python -m MODULE ARGV`` as the TA would; its output (stdout+stderr), kept in logs/."""
        r = subprocess.run([sys.executable, "-m", module, *argv], cwd=REPO, capture_output=True, text=True,
                           check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out = r.stdout + r.stderr
        self.log.mkdir(parents=True, exist_ok=True)
        with open(self.log / "commands.log", "a", encoding="utf-8") as f:
            f.write(f"$ python -m {module} {' '.join(argv)}\n{out}\n[exit {r.returncode}]\n\n")
        check(r.returncode == expect, f"`python -m {module} {' '.join(argv)}` exited {r.returncode}, expected "
                                      f"{expect}:\n{out[-3000:]}")
        return out

    def http(self, method: str, path: str, token: str | None = None, **kw):
        import httpx
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def start_server(self, competition: Path, *extra: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log.mkdir(parents=True, exist_ok=True)
        with open(self.log / f"serve-{port}.log", "w") as out:      # the child keeps its own copy of the file
            self.server = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--competition",
                                            str(competition), "--host", "127.0.0.1", "--port", str(port), *extra],
                                           cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        import httpx
        while True:
            check(self.server.poll() is None, f"`grader serve` exited {self.server.returncode}: "
                                              f"{(self.log / f'serve-{port}.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/board", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            check(time.monotonic() < deadline, f"`grader serve` did not answer on {self.url} within 90 s")
            time.sleep(0.3)

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None

    def course_opts(self) -> list[str]:
        return ["--source", str(REPO / "assignments"), "--course", str(self.course)]

    # -- steps
    def build_data(self) -> str:
        self.cmd("build", "--preset", "tiny", "--seed", "random", "--out", str(self.data), "--answers",
                 str(self.answers), module="data_tools")
        import numpy as np

        from common.answer_key import load_answer_key
        self.key = load_answer_key(self.answers / "solution.csv")
        test = np.load(self.data / "testingset.npy", mmap_mode="r")
        check(len(self.key) == len(test) == 128, f"tiny preset: {len(test)} test images, {len(self.key)} labels, "
                                                 "expected 128 (64 + 64)")
        check(int(self.key.labels.sum()) == 64, f"{int(self.key.labels.sum())} anomalies, expected 64")
        for f in ("solution.csv", "manifest.json"):
            check_mode(self.answers / f, 0o600)
        return f"{len(test)} test rows, {int(self.key.labels.sum())} anomalies, answers 0600"

    def init(self) -> str:
        self.cmd("init", str(self.term), "--baselines", "demo")
        text = self.comp.read_text(encoding="utf-8")
        check('source = "kit ladder' in text, "competition.toml has no [baselines] source from --baselines demo")
        opens = self.now - timedelta(days=7)
        closes = self.now + timedelta(days=7)
        # As the guide says: closes_at and answers set by hand; the upload rate per address raised, because every
        # simulated student uploads from 127.0.0.1.
        lines = [ln for ln in text.splitlines() if not ln.startswith(("answers =", "rate_upload =", "opens_at =",
                                                                      "closes_at =", "database_url ="))]
        head = [f'answers = "{self.answers / "solution.csv"}"', f'opens_at = "{opens.isoformat()}"',
                f'closes_at = "{closes.isoformat()}"', 'rate_upload = "600/minute"',
                f'database_url = "sqlite:///{self.term / "leaderboard.sqlite3"}"']
        first_table = next(i for i, ln in enumerate(lines) if ln.startswith("["))
        self.comp.write_text("\n".join(lines[:first_table] + head + lines[first_table:]) + "\n", encoding="utf-8")
        with open(self.term / "roster.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "name", "email", "lms_id", "nickname"])
            for s in self.students:
                w.writerow([s["id"], s["name"], s["email"], s["lms_id"], ""])
        self.cmd("serve", "--competition", str(self.comp), "--check")
        return f"{len(self.students)} students on the roster, demo thresholds (tiny data: not this term's)"

    def serve(self) -> str:
        self.start_server(self.comp, "--roster", str(self.term / "roster.csv"))
        check_mode(self.term / "admin_token", 0o600)
        check_mode(self.term / "tokens.csv", 0o600)
        self.admin = (self.term / "admin_token").read_text().strip()
        rows = read_rows(self.term / "tokens.csv")
        check(sorted(r["id"] for r in rows) == sorted(s["id"] for s in self.students),
              f"tokens.csv lists {len(rows)} students, expected the {len(self.students)} of the roster")
        self.tokens = {r["id"]: r["token"] for r in rows}
        board = self.http("GET", "/api/board").json()
        check(len(board["rows"]) == 4 and all(r["baseline"] for r in board["rows"]),
              f"a new board shows {len(board['rows'])} rows, expected the 4 baselines")
        return f"listening on {self.url}, {len(rows)} tokens, tokens.csv and admin_token 0600"

    def links(self) -> str:
        out = self.cmd("tokens", "--competition", str(self.comp), "--links", "--public-url", self.url)
        links = dict(ln.split("\t", 1) for ln in out.splitlines() if "\t" in ln)
        check(sorted(links) == sorted(self.tokens), f"--links printed {len(links)} links, expected "
                                                    f"{len(self.tokens)}:\n{out}")
        sid = self.non_ascii
        check(links[sid] == f"{self.url}/login/{self.tokens[sid]}", f"{sid}'s link is {links[sid]}")
        page = self.http("GET", links[sid].removeprefix(self.url))
        check(page.status_code == 200, f"the login link answered {page.status_code}")
        mail = self.work / "links.csv"
        self.cmd("tokens", "--competition", str(self.comp), "--links", "--public-url", self.url, "--csv", str(mail))
        check_mode(mail, 0o600)
        rows = read_rows(mail)
        check(len(rows) == len(self.students) and rows[0].keys() >= {"id", "name", "email", "lms_id", "login_url"},
              f"links.csv has {len(rows)} rows / columns {list(rows[0]) if rows else []}")
        names = {r["id"]: r["name"] for r in rows}
        check(names[sid] == "Nguyễn Văn An", f"the non-ASCII name came back as {names[sid]!r}")
        return f"{len(links)} links, login page 200, links.csv 0600 with the names intact"

    def release(self) -> str:
        due = (self.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.cmd("release", *self.course_opts(), "--duedate", due, "--competition", str(self.comp))
        zips = sorted((self.course / "student_zips").glob("hw8-*.zip"))
        check(len(zips) >= 1, "release wrote no student zip")
        bundle = self.course / "student_release"
        nb = bundle / CODE_ASSIGNMENT / f"{CODE_ASSIGNMENT}.ipynb"
        check(nb.is_file(), f"{nb} is missing from the bundle")
        n = check_readable_bundle(bundle)
        check(mode(self.course) == 0o700, f"release left COURSE {self.course}/ {mode(self.course):o}, not 700")
        rubrics = sorted((self.course / "rubrics").glob("*"))
        check(rubrics, "release wrote no rubric in COURSE/rubrics/")
        for r in rubrics:
            check(not mode(r) & 0o077, f"rubric {r} is {mode(r):o}: others can read it")
        return f"{len(zips)} zip(s), {n} bundle files readable, {len(rubrics)} rubric(s) private"

    def uploads(self) -> str:
        import numpy as np
        rng = np.random.default_rng(0)
        labels = self.key.labels.astype(float)

        def prediction(noise: float) -> bytes:
            s = labels + noise * rng.standard_normal(len(labels))
            return ("ID,score\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(s))).encode()

        counted = {}
        for k, sid in enumerate(self.uploaders):
            n = 5 if sid == self.limit_student else 1
            for j in range(n):
                r = self.http("POST", "/api/submissions", self.tokens[sid],
                              files={"file": (f"pred{j}.csv", prediction(0.3 + 0.15 * k + 0.05 * j), "text/csv")})
                check(r.status_code == 201, f"{sid}'s valid upload {j + 1} answered {r.status_code}: {r.text}")
                check(r.json()["left_today"] == 5 - (j + 1), f"{sid} has {r.json()['left_today']} uploads left "
                                                            f"after {j + 1}")
            counted[sid] = n
        # A broken file: refused with the line and column, not counted.
        bad = b"ID,score\n0,0.5\n1,abc\n"
        r = self.http("POST", "/api/submissions", self.tokens[self.invalid_student],
                      files={"file": ("broken.csv", bad, "text/csv")})
        check(r.status_code == 422 and "line 3" in r.text, f"a broken CSV answered {r.status_code}: {r.text}")
        me = self.http("GET", "/api/me", self.tokens[self.invalid_student]).json()
        check(me["used_today"] == 1 and len(me["submissions"]) == 1,
              f"after a refused file {self.invalid_student} used {me['used_today']} uploads, expected 1")
        # The sixth upload of the day: over the daily limit.
        r = self.http("POST", "/api/submissions", self.tokens[self.limit_student],
                      files={"file": ("pred6.csv", prediction(0.3), "text/csv")})
        check(r.status_code == 429, f"an upload over the daily limit answered {r.status_code}: {r.text}")
        me = self.http("GET", "/api/me", self.tokens[self.limit_student]).json()
        check(me["left_today"] == 0 and len(me["submissions"]) == 5,
              f"at the limit: {me['left_today']} left, {len(me['submissions'])} uploads, expected 0 and 5")
        r = self.http("GET", "/api/me", "not-a-token")
        check(r.status_code == 401, f"an unknown token answered {r.status_code}")
        board = self.http("GET", "/api/board").json()["rows"]
        people = [r for r in board if not r["baseline"]]
        check(len(people) == len(self.uploaders) and len(board) == len(self.uploaders) + 4,
              f"the public board has {len(people)} students and {len(board)} rows, expected "
              f"{len(self.uploaders)} and {len(self.uploaders) + 4}")
        check(sum(r["submissions"] for r in people) == sum(counted.values()),
              f"the board counts {sum(r['submissions'] for r in people)} uploads, expected {sum(counted.values())}")
        check(all(r.get("score") is not None for r in people), "a student row has no public score")
        self.board_before = board
        return (f"{sum(counted.values())} uploads counted for {len(people)} students, broken file 422, limit 429, "
                f"{len(board)} board rows")

    def _report(self, sid: str) -> bytes:
        """The released report with every written answer filled in (its code cells left as released: the
        written answers are what the TA grades by hand here)."""
        import nbformat
        nb = nbformat.read(str(self.course / "release" / REPORT_ASSIGNMENT / f"{REPORT_ASSIGNMENT}.ipynb"),
                           as_version=4)
        n = 0
        for cell in nb.cells:
            if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = f"My answer ({sid}): the model reconstructs normal faces well and anomalies badly."
                n += 1
        check(n > 0, f"{REPORT_ASSIGNMENT} has no written answer cell")
        return nbformat.writes(nb).encode("utf-8")

    def _notebook(self, solved: bool) -> bytes:
        import nbformat
        nb = nbformat.read(str(self.course / "release" / CODE_ASSIGNMENT / f"{CODE_ASSIGNMENT}.ipynb"),
                           as_version=4)
        if solved:
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") != "train":
                    continue
                lines = cell.source.split("\n")
                i = next(k for k, ln in enumerate(lines)
                         if ln.strip() == "# YOUR CODE HERE" and lines[k + 1].strip() == "raise NotImplementedError()")
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                lines[i:i + 2] = [indent + ln for ln in SOLVED_01.split("\n")]
                cell.source = "\n".join(lines)
                break
            else:
                raise RehearsalFailed(f"{CODE_ASSIGNMENT} has no solution cell 'train' to answer")
        return nbformat.writes(nb).encode("utf-8")

    def _canvas_name(self, sid: str, n: int, late: bool, assignment: str = CODE_ASSIGNMENT) -> str:
        """Canvas's bulk-download name: lastfirst[_LATE]_userid_submissionid_file.ipynb."""
        s = next(s for s in self.students if s["id"] == sid)
        last_first = "".join(s["name"].split()[::-1]).lower()
        return f"{last_first}{'_LATE' if late else ''}_{s['lms_id']}_{900000 + n}_{assignment}.ipynb"

    def lms_zip(self) -> str:
        solved, blank = self._notebook(True), self._notebook(False)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, sid in enumerate(self.on_time):
                zf.writestr(self._canvas_name(sid, n, False), blank if sid == self.blank_student else solved)
            zf.writestr("__MACOSX/._junk", b"")
        z = self.work / "lms" / "canvas.zip"
        z.parent.mkdir(parents=True, exist_ok=True)
        z.write_bytes(buf.getvalue())
        self.cmd("collect", str(z), "--assignment", CODE_ASSIGNMENT, "--roster", str(self.term / "roster.csv"),
                 *self.course_opts())
        rows = read_rows(self.course / f"collect_{CODE_ASSIGNMENT}.csv")
        placed = sorted(r["student"] for r in rows if r["what"] == "placed")
        missing = sorted(r["student"] for r in rows if r["what"] == "missing")
        check(placed == sorted(self.on_time), f"collect placed {placed}, expected {sorted(self.on_time)}")
        check(missing == sorted([self.no_show, self.late_student]), f"collect reports missing {missing}")
        # The report, everyone who uploaded hands it in on time (its written answers are graded by hand).
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, sid in enumerate(self.uploaders):
                zf.writestr(self._canvas_name(sid, 500 + n, False, REPORT_ASSIGNMENT), self._report(sid))
        zr = self.work / "lms" / "canvas-report.zip"
        zr.write_bytes(buf.getvalue())
        self.cmd("collect", str(zr), "--assignment", REPORT_ASSIGNMENT, *self.course_opts())
        rows = read_rows(self.course / f"collect_{REPORT_ASSIGNMENT}.csv")
        rplaced = sorted(r["student"] for r in rows if r["what"] == "placed")
        check(rplaced == sorted(self.uploaders), f"collect placed {rplaced} for {REPORT_ASSIGNMENT}")
        n = check_private_tree(self.course)
        return (f"{CODE_ASSIGNMENT}: {len(placed)} placed, {len(missing)} missing; {REPORT_ASSIGNMENT}: "
                f"{len(rplaced)} placed; {n} TA-only files private")

    def late_batch(self) -> str:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(self._canvas_name(self.late_student, 99, True), self._notebook(True))
        z = self.work / "lms" / "late.zip"
        z.write_bytes(buf.getvalue())
        self.cmd("collect", str(z), "--assignment", CODE_ASSIGNMENT, *self.course_opts())
        rows = read_rows(self.course / f"collect_{CODE_ASSIGNMENT}.csv")
        by = {}
        for r in rows:
            by.setdefault(r["what"], []).append(r["student"])
        check(by.get("placed") == [self.late_student], f"the late batch placed {by.get('placed')}")
        check(sorted(by.get("kept", [])) == sorted(self.on_time), f"the late batch kept {by.get('kept')}")
        check(by.get("missing") == [self.no_show], f"after the late batch missing is {by.get('missing')}")
        late = next(r for r in rows if r["what"] == "placed")
        check(late["late"] == "1", f"the LATE file is not marked late: {late}")
        hist = sorted((self.course / "collect_history" / CODE_ASSIGNMENT).glob("*.csv"))
        check(len(hist) == 2, f"collect_history holds {len(hist)} batch reports, expected 2")
        n = check_private_tree(self.course)
        return f"1 late placed, {len(by['kept'])} kept, missing {by['missing']}, {n} TA-only files private"

    def autograde(self) -> str:
        self.cmd("autograde", *self.course_opts(), "--assignment", CODE_ASSIGNMENT, "--assignment",
                 REPORT_ASSIGNMENT, "--workers",
                 str(self.cfg.workers), "--data-dir", str(self.data), "--no-progress")
        rows = read_rows(self.course / "autograde_results.csv")
        res = {r["student"]: r for r in rows if r["assignment"] == CODE_ASSIGNMENT}
        check(len(res) == len(self.students), f"autograde_results.csv has {len(res)} rows for "
                                              f"{CODE_ASSIGNMENT}, expected {len(self.students)}")
        statuses = {sid: r["status"] for sid, r in res.items()}
        want = {sid: "missing" if sid == self.no_show else "graded" for sid in statuses}
        check(statuses == want, f"statuses {statuses}, expected {want}")
        solved = [sid for sid in self.on_time + [self.late_student] if sid != self.blank_student]
        top = float(res[solved[0]]["max_score"]) if "max_score" in res[solved[0]] else None
        scores = {sid: float(res[sid]["score"] or 0) for sid in res}
        check(top is None or top > 0, "01_simple has no points to earn")
        full = top if top is not None else max(scores.values())
        check(full > 0 and all(scores[s] == full for s in solved),
              f"solved notebooks should get every point ({full}): {scores}")
        check(scores[self.blank_student] == 0, f"the unchanged release got {scores[self.blank_student]} points")
        rep = {r["student"]: r["status"] for r in rows if r["assignment"] == REPORT_ASSIGNMENT}
        want = {sid: "missing" if sid == self.no_show else "graded" for sid in (s["id"] for s in self.students)}
        check(rep == want, f"{REPORT_ASSIGNMENT} statuses {rep}, expected {want}")
        n = check_private_tree(self.course)
        self.code_full = full
        return (f"{CODE_ASSIGNMENT}: {len(solved)} graded {full:g}/{full:g}, blank 0, 1 missing; "
                f"{REPORT_ASSIGNMENT}: {len(rep) - 1} graded; {n} TA-only files private")

    def hand_scores(self) -> str:
        tpl = self.work / "report.csv"
        self.cmd("gradebook", *self.course_opts(), "--report-template", str(tpl))
        check_mode(tpl, 0o600)
        rows = read_rows(tpl)
        check(sorted(r["id"] for r in rows) == sorted(s["id"] for s in self.students),
              f"the report template lists {len(rows)} students")
        cols = [c for c in rows[0] if c not in ("id", "name", "comment") and not c.startswith("comment:")]
        check(cols and "comment" in rows[0], f"the report template has columns {list(rows[0])}")
        self.report_cols = cols
        self.comments = {}
        for k, r in enumerate(rows):
            if r["id"] == self.no_show:
                continue
            for c in cols:
                r[c] = "1"
            r["comment"] = f"Clear plots; Ý kiến {k}: say why the faces are blurry."
            self.comments[r["id"]] = r["comment"]
        with open(tpl, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return f"template for {len(rows)} students, {len(cols)} answer column(s), {len(self.comments)} filled"

    def gradebook(self) -> str:
        r = self.http("GET", "/admin/export/baselines.csv", self.admin)
        check(r.status_code == 200, f"/admin/export/baselines.csv answered {r.status_code}")
        disp = r.headers.get("content-disposition", "")
        # Demo thresholds on tiny data: the file says so in its name, as the guide promises.
        check("baselines-THRESHOLDS-NOT-SET.csv" in disp, f"the export is named {disp!r}; the thresholds are the "
                                                          "demo preset's, not this data's")
        check(self.http("GET", "/admin/export/baselines.csv").status_code in (401, 403),
              "the baselines export answered without the admin token")
        export = self.work / "baselines.csv"
        export.write_bytes(r.content)
        exp = list(csv.DictReader(io.StringIO(r.text)))
        check(len(exp) == len(self.students), f"the baselines export has {len(exp)} rows")
        past = (self.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        future = (self.now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Mid-term: 01_simple and the report are due, the other notebooks not yet (they count as not_due).
        dues = [f"{REPORT_ASSIGNMENT}={past}", f"{CODE_ASSIGNMENT}={past}"] + \
            [f"{a}={future}" for a in ("02_medium", "03_strong", "04_boss")]
        out = self.cmd("gradebook", *self.course_opts(), "--report-scores", str(self.work / "report.csv"),
                       "--leaderboard", str(export), "--competition", str(self.comp), "--accept-unset-thresholds",
                       *[x for d in dues for x in ("--duedate", d)])
        check("reminder" in out, f"no reminder to rewrite feedback after hand scores:\n{out}")
        check(f"stored {len(self.comments) * len(self.report_cols)} manual score(s) and {len(self.comments)} "
              f"comment(s) of {REPORT_ASSIGNMENT}" in out, f"gradebook did not store the hand scores:\n{out}")
        gb = self.course / "gradebook"
        for f in ("grades.csv", "canvas_import.csv"):
            check_mode(gb / f, 0o600)
        grades = {g["id"]: g for g in read_rows(gb / "grades.csv")}
        check(sorted(grades) == sorted(s["id"] for s in self.students), f"grades.csv has {len(grades)} rows")
        passed = {e["id"]: e for e in exp}
        problems = []
        # The default scheme: each baseline 0.5 public + 0.5 private, code 2 points, report 4 points, no late penalty.
        for sid, g in grades.items():
            f = {k: float(g[k]) for k in ("baseline_points", "code_points", "report_points", "late_penalty",
                                          "total", "max_total")}
            base = 0.5 * sum(int(passed[sid][f"{b}_{split}"] or 0) for b in BASELINE_NAMES
                             for split in ("public", "private"))
            handed = sid != self.no_show
            code = 2.0 if handed and sid != self.blank_student else 0.0
            report = round(4.0 * len(self.report_cols) / float(g["report_max"]), 4) if handed else 0.0
            want = {"baseline_points": base, "code_points": code, "report_points": report, "late_penalty": 0.0,
                    "total": round(base + code + report, 4), "max_total": 10.0}
            bad = {k: (f[k], v) for k, v in want.items() if abs(f[k] - v) > 2e-4}
            if bad:
                problems.append(f"{sid} (found, expected): {bad}")
            status = g["status"].split()
            want_status = [f"{CODE_ASSIGNMENT}:{'graded' if handed else 'missing'}", "02_medium:not_due",
                           "03_strong:not_due", "04_boss:not_due", f"{REPORT_ASSIGNMENT}:{'graded' if handed else 'missing'}"]
            if status != want_status:
                problems.append(f"{sid} status {status}, expected {want_status}")
            if sid in self.comments and self.comments[sid] not in g["comment"]:
                problems.append(f"{sid}: comment {g['comment']!r}")
        late = grades[self.late_student]
        if (late["late"], late["late_days"]) != ("1", "1"):
            problems.append(f"the late student has late={late['late']} late_days={late['late_days']}")
        check(not problems, "grades.csv: " + "; ".join(problems))
        with open(gb / "canvas_import.csv", encoding="utf-8") as f:
            canvas = list(csv.reader(f))
        check(len(canvas) >= len(self.students) + 1, f"canvas_import.csv has {len(canvas)} lines")
        canvas_totals = {r[2]: float(r[-1]) for r in canvas[2:]}
        check(all(abs(canvas_totals[sid] - float(g["total"])) < 1e-9 for sid, g in grades.items()),
              "canvas_import.csv totals differ from grades.csv")
        totals = sorted(float(g["total"]) for g in grades.values())
        return (f"{len(grades)} rows, totals {totals[0]:g}..{totals[-1]:g} of 10, every part as expected, "
                f"{len(self.comments)} comments, grades.csv and canvas_import.csv 0600")

    def feedback(self) -> str:
        hb = self.work / "handback"
        self.cmd("feedback", *self.course_opts(), "--zip", str(hb))
        zips = sorted(p.name for p in hb.iterdir())
        handed_in = sorted(set(self.on_time + [self.late_student]))
        check(zips == [f"{sid}.zip" for sid in handed_in], f"handback/ holds {zips}, expected one zip per student "
                                                             f"who handed in ({len(handed_in)})")
        check_mode(hb, 0o700)
        for z in hb.iterdir():
            check_mode(z, 0o600)
            with zipfile.ZipFile(z) as zf:
                names = zf.namelist()
            check(names and all(not n.startswith(("/", "..")) for n in names), f"{z.name} holds {names}")
        sid = self.non_ascii
        page = next((self.course / "feedback" / sid).rglob("*.html")).read_text(encoding="utf-8")
        check("BEGIN HIDDEN TESTS" not in page, "a feedback page shows a hidden test")
        n = check_private_tree(self.course)
        return f"{len(zips)} zips 0600 in handback/ 0700; {n} TA-only files private"

    def similarity(self) -> str:
        r = self.http("GET", "/admin/export/leaderboard.csv", self.admin)
        check(r.status_code == 200, f"/admin/export/leaderboard.csv answered {r.status_code}")
        lb = self.work / "leaderboard.csv"
        lb.write_bytes(r.content)
        self.cmd("similarity", *self.course_opts(), "--leaderboard", str(lb))
        html = self.course / f"similarity_{CODE_ASSIGNMENT}.html"
        check(html.is_file(), f"{html} was not written")
        n = check_private_tree(self.course)
        return f"{html.name} written; {n} TA-only files private"

    def backup_restore(self) -> str:
        bk = self.work / "backups" / "term.sqlite3"
        bk.parent.mkdir(parents=True, exist_ok=True)
        self.cmd("backup", "--competition", str(self.comp), "--out", str(bk))
        check_mode(bk, 0o600)
        public_before = self.http("GET", "/api/board").json()["rows"]
        self.stop_server()
        # The board moves: a new database, and (the term over) the close time in the past.
        moved = self.term / "moved.toml"
        db2 = self.term / "restored.sqlite3"
        text = self.comp.read_text(encoding="utf-8").replace(
            f'sqlite:///{self.term / "leaderboard.sqlite3"}', f"sqlite:///{db2}")
        closes = (self.now - timedelta(minutes=1)).isoformat()
        text = "\n".join(f'closes_at = "{closes}"' if ln.startswith("closes_at =") else ln
                         for ln in text.splitlines()) + "\n"
        moved.write_text(text, encoding="utf-8")
        self.cmd("restore", str(bk), "--competition", str(moved))
        check(db2.is_file(), f"restore wrote nothing at {db2}")
        self.comp_moved = moved
        self.start_server(moved)
        public_after = self.http("GET", "/api/board").json()["rows"]
        key = lambda rows: [(r["name"], r["score"], r["submissions"], r["baseline"]) for r in rows]
        check(key(public_before) == key(public_after), "the restored public board differs:\n"
                                                       f"{key(public_before)}\n{key(public_after)}")
        private = self.http("GET", "/api/board?split=private").json()
        check(private["closed"] and len(private["rows"]) == len(public_after),
              f"after the close the private board has {len(private['rows'])} rows")
        for sid in self.uploaders:
            me = self.http("GET", "/api/me", self.tokens[sid])
            check(me.status_code == 200, f"{sid}'s token does not work on the restored board")
        return f"backup 0600, {len(public_after)} rows the same after restore, private board revealed"

    def tokens_reissue(self) -> str:
        sid = self.invalid_student
        out_csv = self.term / "tokens-reissued.csv"
        self.cmd("tokens", "--competition", str(self.comp_moved), "--reissue", sid, "--out", str(out_csv))
        check_mode(out_csv, 0o600)
        rows = read_rows(out_csv)
        check(len(rows) == 1 and rows[0]["id"] == sid, f"the reissue CSV has {rows}")
        old, new = self.tokens[sid], rows[0]["token"]
        check(self.http("GET", "/api/me", old).status_code == 401, "the old token still works after --reissue")
        check(self.http("GET", "/api/me", new).status_code == 200, "the new token does not log in")
        self.tokens[sid] = new
        return "old token 401, new token 200, tokens CSV 0600"

    def screenshots(self) -> str:
        from playwright.sync_api import sync_playwright
        check(Path(CHROMIUM).exists(), f"{CHROMIUM} not found (apt-get install chromium, or --no-browser)")
        shots = self.work / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        taken = []
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for w in WIDTHS:
                    ctx = b.new_context(viewport={"width": w, "height": 900}, locale="en-US")
                    page = ctx.new_page()
                    page.goto(self.url + "/")
                    check(page.locator("#private-board").count() == 1, "the public page shows no private board "
                                                                       "after the close")
                    page.screenshot(path=str(shots / f"board-{w}.png"), full_page=True)
                    page.goto(f"{self.url}/login/{self.tokens[self.non_ascii]}")
                    page.click("#confirm-login")
                    page.wait_for_url("**/me")
                    page.screenshot(path=str(shots / f"student-{w}.png"), full_page=True)
                    page.goto(self.url + "/admin/login")
                    page.fill("input[name=token]", self.admin)
                    page.locator("form button[type=submit], form input[type=submit]").first.click()
                    page.wait_for_url("**/admin")
                    page.screenshot(path=str(shots / f"ta-{w}.png"), full_page=True)
                    ctx.close()
                    taken += [f"board-{w}.png", f"student-{w}.png", f"ta-{w}.png"]
            finally:
                b.close()
        return f"{len(taken)} PNGs in {shots}"


STEPS = [("data", "build_data"), ("init", "init"), ("serve", "serve"), ("links", "links"),
         ("release", "release"), ("uploads", "uploads"), ("LMS zip", "lms_zip"), ("late batch", "late_batch"),
         ("autograde", "autograde"), ("hand scores", "hand_scores"), ("gradebook", "gradebook"),
         ("feedback", "feedback"), ("similarity", "similarity"), ("backup+restore", "backup_restore"),
         ("tokens", "tokens_reissue"), ("screenshots", "screenshots")]


def rehearse(cfg: RehearseConfig) -> list[tuple[str, float]]:
    """Run every step; the (step, seconds) list. Raises :class:`RehearsalFailed` at the first failed check."""
    work = Path(cfg.workdir)
    # Emptied only when it is an earlier rehearsal's (or empty): a mistyped --workdir must not cost a folder.
    if work.exists() and any(work.iterdir()) and not (work / MARKER).is_file():
        raise RehearsalFailed(f"{work} is not empty and not an earlier rehearsal's folder: choose another --workdir")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    os.chmod(work, 0o700)         # it holds the answer key, tokens and grades, like COURSE
    (work / MARKER).write_text("written by python -m kit rehearse; emptied by its next run\n")
    term = Term(cfg)
    t_all = time.perf_counter()
    try:
        for i, (name, method) in enumerate(STEPS, 1):
            if method == "screenshots" and not cfg.browser:
                continue
            t0 = time.perf_counter()
            try:
                said = getattr(term, method)()
            except RehearsalFailed as e:
                raise RehearsalFailed(f"step {i} ({name}): {e}") from None
            dt = time.perf_counter() - t0
            term.steps.append((name, dt))
            print(f"[{i:2d}/{len(STEPS)}] {name:<15} {dt:7.1f} s  {said}", flush=True)
    finally:
        term.stop_server()
    total = time.perf_counter() - t_all
    (work / "steps.json").write_text(json.dumps({"steps": term.steps, "seconds": total}, indent=2))
    print(f"rehearsal passed in {total:.0f} s: {work}", flush=True)
    return term.steps
