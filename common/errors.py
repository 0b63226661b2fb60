"""``KitError``: the base of every error the kit can explain in words (a CLI prints its one line and exits 1).

Each package derives its own few named errors from it (``GraderError``, ``DatasetError``, ``ImageFileError``...),
so a command line catches one base instead of one per package.
"""
from __future__ import annotations


class KitError(Exception):
    """A problem the kit can explain in words: bad data, a missing file, an invalid config."""
