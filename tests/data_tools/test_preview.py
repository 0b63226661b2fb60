"""data_tools.preview: the contact sheet has a row for train, normal test and every kind present."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from data_tools.io import DatasetError
from data_tools.preview import contact_sheet, sheet_rows


def test_sheet_rows_cover_every_kind(tiny_dataset):
    rows = sheet_rows(tiny_dataset.paths, per_row=6)
    titles = [t for t, _ in rows]
    assert titles[0] == "train (256)" and titles[1] == "test normal (64)"
    kinds = sorted(set(tiny_dataset.key.kinds) - {"normal"})
    assert [t.split(" (")[0] for t in titles[2:]] == kinds
    for (title, images), kind in zip(rows[2:], kinds):
        n = int((tiny_dataset.key.kinds == kind).sum())
        assert title == f"{kind} ({n})" and images.shape == (min(6, n), 64, 64, 3)
        # the images shown really are test rows of that kind
        ids = np.flatnonzero(tiny_dataset.key.kinds == kind)
        for im in images:
            assert any((tiny_dataset.test[i] == im).all() for i in ids)


def test_contact_sheet_writes_a_png(tmp_path, tiny_dataset):
    out = contact_sheet(tiny_dataset.paths.data, tiny_dataset.paths.answers, tmp_path / "sub" / "sheet.png",
                        per_row=4)
    with Image.open(out) as im:
        assert im.format == "PNG"
        n_rows = 2 + len(set(tiny_dataset.key.kinds) - {"normal"})
        assert im.height >= 80 * n_rows and im.width >= 4 * 80
        assert np.asarray(im.convert("L")).std() > 10  # not blank


def test_preview_errors(tmp_path, tiny_dataset):
    with pytest.raises(DatasetError, match="solution.csv: answer key not found"):
        contact_sheet(tiny_dataset.paths.data, tmp_path, tmp_path / "s.png")
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "testingset.npy", np.zeros((5, 64, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match="5 images but .*solution.csv has 128 rows"):
        contact_sheet(data, tiny_dataset.paths.answers, tmp_path / "s.png")
    shutil.copy(tiny_dataset.paths.test, data / "testingset.npy")  # no trainingset.npy: sheet without that row
    rows = sheet_rows(type(tiny_dataset.paths)(data, tiny_dataset.paths.answers))
    assert rows[0][0] == "test normal (64)"
