"""Figures fit for a report, on real runs of the small scenario: every text of every figure lies
inside its canvas (nothing cut off), file names have no spaces, stacked vendor shares are means
that add up, display names replace ids where the run recorded them."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

from adoptsim.cli import main
from adoptsim.io.run_folder import load_results
from adoptsim.viz import style
from adoptsim.viz.run_figures import FIGURES, draw_figure, metric_figure, vendors_figure


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_text, write_toml):
    root = tmp_path_factory.mktemp("figs")
    text = small_text.replace('id = "deepseek"', 'id = "deepseek"\nname = "DeepSeek (V3 and later)"')
    path = write_toml(root, "small.toml", text)
    out = root / "res"
    assert main(["run", str(path), "--replicates", "3", "--out", str(out), "--no-plots"]) == 0
    return load_results(out)


@pytest.fixture
def kept(monkeypatch):
    """The figures saved during a test, kept open for inspection."""
    figures = []
    close = plt.close
    monkeypatch.setattr(style.plt, "close", lambda fig=None: figures.append(fig))
    yield figures
    for fig in figures:
        close(fig)


def overflowing(fig) -> list[str]:
    """What of ``fig`` is drawn outside its canvas: its tight bounding box (everything drawn,
    texts and legends included, in inches) must lie inside the figure (0.01 inch of slack);
    returns the texts that stick out when it does not."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tight, full = fig.get_tightbbox(renderer), fig.bbox_inches
    if (tight.x0 >= full.x0 - 0.01 and tight.y0 >= full.y0 - 0.01 and tight.x1 <= full.x1 + 0.01
            and tight.y1 <= full.y1 + 0.01):
        return []
    box, out = fig.bbox, []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            b = t.get_window_extent(renderer)
            if b.x0 < box.x0 - 1 or b.y0 < box.y0 - 1 or b.x1 > box.x1 + 1 or b.y1 > box.y1 + 1:
                out.append(f"{t.get_text()!r} at {b}")
    return out or [f"tight bbox {tight} outside {full}"]


def test_run_figures_fit_their_canvas(run, tmp_path, kept):
    paths = [draw_figure(name, run.frame, run.manifest, tmp_path) for name in FIGURES]
    for metric, by in (("capability", "world"), ("price", "world"), ("share_origin", "nation"),
                       ("share_vendor", "region")):
        paths.append(metric_figure(run.frame, run.manifest, tmp_path / f"{metric}_{by}.png", metric, by))
    assert len(kept) == len(paths)
    for path, fig in zip(paths, kept):
        assert " " not in path.name
        assert not overflowing(fig), (path.name, overflowing(fig))


def test_vendor_stack_is_of_means_and_names_are_shown(run, tmp_path, kept):
    vendors_figure(run.frame, run.manifest, tmp_path / "v.png")
    fig = kept[-1]
    ax = fig.axes[0]
    texts = {t.get_text() for t in fig.findobj(Text)}
    assert "DeepSeek (V3 and later)" in texts and "deepseek" not in texts
    assert "mean of 3 replicates" in ax.get_title()
    w = run.frame[(run.frame["scope"] == "world") & (run.frame["metric"] == "share_vendor")]
    top = w.groupby(["date", "key"], observed=True)["value"].mean().groupby("date").sum()
    assert (top <= 1 + 1e-12).all()  # means of parts add up to the mean adoption: never past 100%


def test_compare_figure_labels_percentage_points(run, tmp_path, kept, capsys):
    assert main(["compare", str(run.path), str(run.path), "--out", str(tmp_path / "cmp")]) == 0
    fig = kept[-1]
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any("percentage points" in lab for lab in labels)
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert not any(t.endswith("%") and ("+" in t or "−" in t) for t in ticks)
    assert not overflowing(fig)


def test_slug_makes_file_names_safe():
    assert style.slug("share_origin_region_Latin America_Sub-Saharan Africa") == \
        "share_origin_region_Latin_America_Sub-Saharan_Africa"
    assert " " not in style.slug("a b/c") and "/" not in style.slug("a b/c")


def test_agg_backend():
    assert matplotlib.get_backend().lower() == "agg"
    assert np.isfinite(1.0)
