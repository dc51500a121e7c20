"""Sweep, compare and analysis figures fit for a report (issue 15 item 3), on real small runs:
every text inside the canvas (the tight-bbox check of test_figures), no spaces in file names,
differences of shares in pts, the sweep heat map coloured over the data's range."""

from __future__ import annotations

import textwrap

import pytest
from matplotlib.colors import Normalize

from adoptsim.cli import main
from adoptsim.io.sweep_folder import load_sweep

from .test_figures import kept, overflowing  # noqa: F401  (fixture and check shared with the run figures)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory, small_text):
    root = tmp_path_factory.mktemp("more")
    (root / "small.toml").write_text(small_text.replace('id = "deepseek"', 'id = "deepseek"\nname = "DeepSeek V3"'))
    return root


def write(root, name, text):
    path = root / name
    path.write_text(textwrap.dedent(text))
    return path


def check_all(figs, paths):
    assert figs, "no figure drawn"
    for fig in figs:
        assert not overflowing(fig), overflowing(fig)
    for p in paths:
        assert " " not in p.name, p


def test_sweep_and_discovery_figures_fit(folder, kept, capsys):
    exp = write(folder, "lhs.toml", """
        scenario = "small.toml"
        replicates = 1
        [design]
        method = "lhs"
        samples = 24
        [[factors]]
        path = "adoption.q"
        range = [0.05, 0.6]
        [[factors]]
        path = "choice.trust"
        range = [0.2, 3.0]
        """)
    assert main(["sweep", str(exp), "--out", str(folder / "sw"), "--workers", "1", "-q"]) == 0
    kept.clear()
    assert main(["plot", str(folder / "sw"), "--metric", "share_origin", "--key", "CN", "-q"]) == 0
    figs = list(kept)
    assert len(figs) == 4  # against each factor, the heat map, the runs' curves
    check_all(figs, list((folder / "sw").rglob("*.png")))
    heat = [f for f in figs if any(im.get_array() is not None for ax in f.axes for im in ax.images)]
    for f in heat:  # the colour range is the data's, not a fixed 0..1
        for ax in f.axes:
            for im in ax.images:
                norm: Normalize = im.norm
                data = im.get_array()
                assert norm.vmin == pytest.approx(float(data.min()), abs=1e-9)
                assert norm.vmax == pytest.approx(float(data.max()), abs=1e-9)
    kept.clear()
    ends = load_sweep(folder / "sw").endpoints
    cn = ends[(ends["metric"] == "share_origin") & (ends["scope"] == "world") & (ends["key"] == "CN")]["value"]
    assert main(["discover", str(folder / "sw"), "--metric", "share_origin", "--key", "CN", "--above",
                 f"{cn.median():.6f}", "--out", str(folder / "disc"), "-q"]) == 0
    check_all(list(kept), list((folder / "disc").rglob("*.png")))


def test_tornado_and_compare_figures_fit(folder, kept, capsys):
    exp = write(folder, "oat.toml", """
        scenario = "small.toml"
        replicates = 1
        [design]
        method = "oat"
        [[factors]]
        path = "adoption.q"
        range = [0.1, 0.5]
        [[factors]]
        path = "choice.trust"
        range = [0.5, 2.0]
        """)
    assert main(["sensitivity", str(exp), "--out", str(folder / "oat"), "--workers", "1", "-q"]) == 0
    check_all(list(kept), list((folder / "oat").rglob("*.png")))
    kept.clear()
    alt = write(folder, "tight.toml", (folder / "small.toml").read_text().replace("chip_access = 0.5",
                                                                                   "chip_access = 0.05"))
    for path, out in ((folder / "small.toml", "a"), (alt, "b")):
        assert main(["run", str(path), "--replicates", "2", "--out", str(folder / out), "--no-plots", "-q"]) == 0
    assert main(["compare", str(folder / "a"), str(folder / "b"), "--metric", "share_vendor",
                 "--out", str(folder / "cmp"), "-q"]) == 0
    (fig,) = kept
    check_all([fig], list((folder / "cmp").rglob("*.png")))
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert any(t.endswith(" pts") for t in ticks) and not any(t.endswith("%") and t[:1] in "+−-" for t in ticks)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "DeepSeek V3" in titles and "[deepseek]" not in titles  # display names, not ids
