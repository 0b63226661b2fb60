"""Labels a person agrees with: a blind rating protocol for the near anomaly kinds.

For each kind, :func:`write_sheets` draws a seeded sample of that kind's test images (64 by default) and mixes in
normal test faces (16), in a seeded order, as numbered pages (``<kind>-1.png``, ``<kind>-2.png``, ...: :data:`PAGE`
cells each, every image :data:`SCALE` times its size, its number in its corner) and a sheet to fill (``<kind>.csv``:
``cell,answer``, the answer empty) with the kind's question (:data:`QUESTIONS`). Which cells are anomalies is in
``key/<kind>.csv`` (0600), which the rater does not open. The rater looks at each page and answers every cell
``yes``, ``no`` or ``unsure``; :func:`read_results` then joins the answers with the key: per kind, the share of its
images a person sees the attribute in (``yes``), is unsure of, or does not see, and the share of normal faces
answered ``yes``. The kind passes at :data:`AGREEMENT` or more ``yes`` and at most :data:`NORMAL_YES` of the normal
faces ``yes``.

    python -m data_tools rate sheets --data DIR --answers DIR --out DIR [--per-kind 64] [--normal 16] [--seed 0]
    python -m data_tools rate result --sheets DIR
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.answer_key import NORMAL_KIND, AnswerKeyError, load_answer_key
from data_tools.io import DatasetError, DatasetPaths, load_images

#: The question a rater answers for each cell of a kind's grid.
QUESTIONS = {
    "glasses": "Does the person wear glasses?",
    "headwear": "Does the person wear a hat, cap, scarf or other headwear?",
    "open_mouth": "Is the mouth clearly open?",
    "face_mask": "Does a mask cover the lower face?",
    "face_paint": "Is there paint on the face?",
}
ANSWERS = ("yes", "no", "unsure")
#: A kind passes when at least this share of its images is answered ``yes`` ...
AGREEMENT = 0.90
#: ... and at most this share of the normal faces beside them.
NORMAL_YES = 0.10
#: A page of a kind's sheet: ``ROWS`` x ``COLUMNS`` cells, each image ``SCALE`` times its size (192 px): about 800 px
#: square, which a viewer shows whole, so that a stroke a pixel or two wide in a 64-pixel image is seen as drawn. (One
#: grid of 80 cells at twice the size, shrunk to fit a screen, hid thin paint: rated on it, blue stripes a page
#: shows plainly were answered "no".)
COLUMNS, ROWS, SCALE = 4, 4, 3
PAGE = COLUMNS * ROWS


@dataclass(frozen=True)
class KindResult:
    """One kind's answers: counts over its anomalies (``yes``, ``unsure``, ``no``) and over the normal faces."""
    kind: str
    yes: int
    unsure: int
    no: int
    normal_yes: int
    normal: int

    @property
    def n(self) -> int:
        return self.yes + self.unsure + self.no

    @property
    def agreement(self) -> float:
        return self.yes / self.n if self.n else 0.0

    @property
    def normal_share(self) -> float:
        return self.normal_yes / self.normal if self.normal else 0.0

    @property
    def passed(self) -> bool:
        return self.n > 0 and self.agreement >= AGREEMENT and self.normal_share <= NORMAL_YES


def write_sheets(data: str | Path, answers: str | Path, out_dir: str | Path, kinds=None, per_kind: int = 64,
                 normal: int = 16, seed: int = 0) -> dict[str, list[Path]]:
    """Write ``<kind>-<page>.png`` (numbered pages), ``<kind>.csv`` (to fill) and ``key/<kind>.csv`` for each kind
    in ``kinds`` (default: every kind of :data:`QUESTIONS` in the data set). Returns kind -> its pages' paths."""
    paths = DatasetPaths(Path(data), Path(answers))
    try:
        key = load_answer_key(paths.solution)
    except AnswerKeyError as e:
        raise DatasetError(str(e)) from e
    kinds = list(kinds or [k for k in QUESTIONS if (key.kinds == k).any()])
    unknown = [k for k in kinds if k not in QUESTIONS]
    if unknown:
        raise DatasetError(f"no rating question for kind(s) {', '.join(unknown)}; rated kinds: {', '.join(QUESTIONS)}")
    if per_kind < 1 or normal < 0:
        raise DatasetError(f"--per-kind must be at least 1 and --normal at least 0 (got {per_kind}, {normal})")
    test = load_images(paths.test, mmap=True, min_images=1)
    normals = np.flatnonzero(key.kinds == NORMAL_KIND)
    out = Path(out_dir)
    (out / "key").mkdir(parents=True, exist_ok=True)
    os.chmod(out / "key", 0o700)
    written = {}
    for i, kind in enumerate(kinds):
        rng = np.random.default_rng([seed, i])
        ids = np.flatnonzero(key.kinds == kind)
        if not len(ids):
            raise DatasetError(f"no test rows of kind {kind!r} in {paths.solution}")
        rows = np.r_[rng.choice(ids, min(per_kind, len(ids)), replace=False),
                     rng.choice(normals, min(normal, len(normals)), replace=False)]
        rows = rows[rng.permutation(len(rows))]
        written[kind] = _numbered_pages(np.asarray(test[rows]), out, kind)
        with open(out / f"{kind}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["cell", "answer"])
            w.writerows([c, ""] for c in range(1, len(rows) + 1))
        fd = os.open(out / "key" / f"{kind}.csv", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["cell", "id", "kind"])
            w.writerows([c, int(r), str(key.kinds[r])] for c, r in enumerate(rows, start=1))
    return written


def _numbered_pages(images: np.ndarray, out: Path, kind: str) -> list[Path]:
    """``images`` as pages of :data:`PAGE` cells (``preview.grid_array``) under the question, each cell's number in
    its top left corner, as ``out/<kind>-<page>.png``."""
    from PIL import Image, ImageDraw

    from data_tools.preview import grid_array
    written, top, cell = [], 20, 64 * SCALE + 2
    for stale in out.glob(f"{kind}-*.png"):     # an earlier sheet's pages: a shorter one would leave some behind
        stale.unlink()
    for first in range(0, len(images), PAGE):
        grid = Image.fromarray(grid_array(images[first:first + PAGE], cols=COLUMNS, scale=SCALE))
        canvas = Image.new("RGB", (grid.width, grid.height + top), "white")
        canvas.paste(grid, (0, top))
        draw = ImageDraw.Draw(canvas)
        page = first // PAGE + 1
        draw.text((4, 4), f"{kind} (page {page}): {QUESTIONS[kind]}", fill="black")
        for i in range(min(PAGE, len(images) - first)):
            r, c = divmod(i, COLUMNS)
            x, y = 2 + c * cell, top + 2 + r * cell
            draw.rectangle((x, y, x + 22, y + 12), fill="white")
            draw.text((x + 2, y + 1), f"{first + i + 1}", fill="black")
        written.append(out / f"{kind}-{page}.png")
        canvas.save(written[-1])
    return written


def read_results(sheets: str | Path) -> list[KindResult]:
    """Join every filled ``<kind>.csv`` in ``sheets`` with ``key/<kind>.csv``. A missing, unknown or repeated cell or
    an answer other than yes / no / unsure is a :class:`DatasetError` naming the file and line."""
    sheets = Path(sheets)
    found = sorted(p for p in sheets.glob("*.csv") if p.stem in QUESTIONS)
    if not found:
        raise DatasetError(f"no rating sheet (<kind>.csv for {', '.join(QUESTIONS)}) in {sheets}")
    results = []
    for path in found:
        key_path = sheets / "key" / path.name
        if not key_path.is_file():
            raise DatasetError(f"{path}: its key {key_path} is missing")
        with open(key_path, newline="", encoding="utf-8") as f:
            truth = {int(r["cell"]): r["kind"] for r in csv.DictReader(f)}
        answers: dict[int, str] = {}
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"cell", "answer"} <= set(reader.fieldnames or []):
                raise DatasetError(f"{path}: the header must name 'cell' and 'answer' (other columns, e.g. a note, "
                                   f"are kept out), got {','.join(reader.fieldnames or [])!r}")
            for line, row in enumerate(reader, start=2):
                try:
                    cell = int(row["cell"])
                except (TypeError, ValueError):
                    raise DatasetError(f"{path}, line {line}: cell {row['cell']!r} is not a number") from None
                answer = (row["answer"] or "").strip().lower()
                if cell not in truth:
                    raise DatasetError(f"{path}, line {line}: there is no cell {cell} (1 to {len(truth)})")
                if cell in answers:
                    raise DatasetError(f"{path}, line {line}: cell {cell} is answered twice")
                if not answer:
                    continue                                   # not answered yet: counted as missing below
                if answer not in ANSWERS:
                    raise DatasetError(f"{path}, line {line}: cell {cell}: answer {row['answer']!r} is not one of "
                                       f"{', '.join(ANSWERS)}")
                answers[cell] = answer
        missing = sorted(set(truth) - set(answers))
        if missing:
            raise DatasetError(f"{path}: {len(missing)} cell(s) not answered, e.g. {', '.join(map(str, missing[:5]))}")
        kind = path.stem
        of_kind = [answers[c] for c, k in truth.items() if k == kind]
        of_normal = [answers[c] for c, k in truth.items() if k == NORMAL_KIND]
        results.append(KindResult(kind, of_kind.count("yes"), of_kind.count("unsure"), of_kind.count("no"),
                                  of_normal.count("yes"), len(of_normal)))
    return results


def format_results(results: list[KindResult]) -> str:
    """A markdown table: per kind, yes / unsure / no over its images, ``yes`` over the normal faces, pass."""
    lines = [f"| kind | images | yes | unsure | no | normal faces answered yes | passes ({AGREEMENT:.0%} yes, "
             f"at most {NORMAL_YES:.0%} of normal) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.kind} | {r.n} | {r.yes} ({r.agreement:.0%}) | {r.unsure} | {r.no} | "
                     f"{r.normal_yes} of {r.normal} | {'yes' if r.passed else 'no'} |")
    return "\n".join(lines)
