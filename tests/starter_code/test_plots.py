import numpy as np
import pytest
from matplotlib.figure import Figure

from starter_code.plots import plot_images, plot_loss, plot_reconstructions, plot_score_histogram
from starter_code.train import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def saved_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 1000


def test_plot_loss(tmp_path):
    h = History(losses=[1.0, 0.5, 0.25], model_type="fcn")
    fig = plot_loss(h, tmp_path / "figs" / "loss.png")
    assert isinstance(fig, Figure) and saved_png(tmp_path / "figs" / "loss.png")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_ydata()) == [1.0, 0.5, 0.25] and "fcn" in ax.get_title()
    assert plot_loss([100.0, 1.0]).axes[0].get_yscale() == "log"  # VAE-like ranges


def test_plot_score_histogram(tmp_path):
    scores = np.r_[np.zeros(30), np.ones(10) * 5]
    fig = plot_score_histogram(scores, path=tmp_path / "h.png")
    assert saved_png(tmp_path / "h.png") and len(fig.axes) == 1
    fig = plot_score_histogram(scores, labels=np.r_[np.zeros(30), np.ones(10)])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["normal (30)", "anomaly (10)"]
    with pytest.raises(ValueError, match="same length"):
        plot_score_histogram(scores, labels=np.zeros(3))


def test_plot_images(tmp_path, random_images):
    fig = plot_images(random_images[:5], titles=list("abcde"), ncols=3, path=tmp_path / "i.png", title="grid")
    assert saved_png(tmp_path / "i.png")
    assert len(fig.axes) == 6 and [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
    with pytest.raises(ValueError, match="2 titles for 5 images"):
        plot_images(random_images[:5], titles=["a", "b"])


def test_plot_reconstructions_shows_best_and_worst(tmp_path, random_images):
    scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 0.5, 4.0, 6.0])
    fig = plot_reconstructions(random_images, random_images[::-1], scores, k=3, path=tmp_path / "r.png")
    assert saved_png(tmp_path / "r.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["#7: 0.5", "#1: 1", "#5: 2", "#2: 9", "#6: 8", "#4: 7"]
    with pytest.raises(ValueError, match="must match"):
        plot_reconstructions(random_images, random_images, scores[:4])
