"""sklearn_zlp.plotting: each figure draws what it says, on a given Axes or a new one."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from _report_fixtures import hand_band_gap, tiny_fit

from sklearn_zlp.plotting import (
    onset_curve,
    plot_band_gap,
    plot_maps,
    plot_quality,
    plot_regions,
    plot_subtracted,
    plot_training_curves,
    plot_zlp_fit,
)


@pytest.fixture(scope="module")
def fitted():
    return tiny_fit()


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_import_does_not_need_matplotlib_until_drawing():
    import subprocess
    import sys

    code = (
        "import sys; import sklearn_zlp.plotting, sklearn_zlp.report; "
        "assert 'matplotlib' not in sys.modules; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_band_gap_line_starts_at_e_bg_and_band_spans_interval(ax):
    gap = hand_band_gap(3, failed=(1,))
    energy = np.linspace(-1, 5, 601)
    spectrum = np.where(energy > 1.6, 400 * np.clip(energy - 1.6, 0, None) ** 1.5, 0) + 20
    plot_band_gap(energy, np.vstack([spectrum] * 3), gap, 0, ax=ax)
    (onset,) = _by_gid(ax, "onset")
    x, y = onset.get_data()
    assert x[0] == pytest.approx(gap.e_bg_median[0], abs=1e-12)
    assert x[-1] == pytest.approx(3.0)  # to the end of the fit window
    # on its pedestal at E_bg, and A (E - E_bg)^b above it
    assert y[0] == pytest.approx(20.0)
    curve, pedestal = onset_curve(gap, 0, [gap.e_bg_median[0] + 1.0])
    assert curve[0] - pedestal[0] == pytest.approx(400.0)
    (span,) = _by_gid(ax, "e_bg_band")
    # a Rectangle (matplotlib >= 3.9) or a Polygon: its corners in data x either way
    xs = span.get_patch_transform().transform(span.get_path().vertices)[:, 0]
    np.testing.assert_allclose([xs.min(), xs.max()], gap.e_bg_band[:, 0], rtol=1e-12)
    (line,) = _by_gid(ax, "e_bg")
    assert line.get_xdata()[0] == pytest.approx(gap.e_bg_median[0])
    (text,) = _by_gid(ax, "status")
    assert f"{gap.e_bg_median[0]:.2f}" in text.get_text() and "ok" in text.get_text()


def test_failed_band_gap_draws_no_line_and_says_its_status(ax):
    gap = hand_band_gap(3, failed=(1,))
    assert gap.status[1] == "fit_failed" and np.isnan(gap.e_bg_median[1])
    energy = np.linspace(-1, 5, 601)
    plot_band_gap(energy, np.ones((3, 601)), gap, 1, ax=ax)
    for gid in ("onset", "pedestal", "e_bg", "e_bg_band"):
        assert _by_gid(ax, gid) == []
    (text,) = _by_gid(ax, "status")
    assert "fit_failed" in text.get_text()
    curve, pedestal = onset_curve(gap, 1, energy)
    assert np.isnan(curve).all() and np.isnan(pedestal).all()


def test_zlp_fit_log_axis_band_and_edges(fitted, ax):
    _, result, energy, names = fitted
    out = plot_zlp_fit(
        energy,
        result.spectra[0],
        result.zlp_model_median[0],
        result.zlp_model_band[:, 0],
        de0=result.de0[0],
        de1=result.de1[0],
        de2=result.de2[0],
        ax=ax,
        title=names[0],
    )
    assert out is ax and ax.get_yscale() == "log"
    (band,) = _by_gid(ax, "band")
    assert band.get_paths()[0].vertices[:, 1].max() == pytest.approx(
        np.nanmax(result.zlp_model_band[1, 0])
    )
    for gid, value in (
        ("dE_0", result.de0[0]),
        ("dE_I", result.de1[0]),
        ("dE_II", result.de2[0]),
    ):
        (line,) = _by_gid(ax, gid)
        assert line.get_xdata()[0] == pytest.approx(value)


def test_subtracted_median_and_band(fitted, ax):
    _, result, energy, _ = fitted
    plot_subtracted(
        energy, result.subtracted_median[2], result.subtracted_band[:, 2], ax=ax
    )
    (median,) = _by_gid(ax, "median")
    np.testing.assert_array_equal(median.get_ydata(), result.subtracted_median[2])
    assert len(_by_gid(ax, "band")) == 1
    assert ax.get_xlim() == (0.0, 6.0)


def test_regions_bars_and_status(fitted, ax):
    _, result, energy, names = fitted
    status = np.asarray(result.status, dtype=str).copy()
    status[0] = "region_i_too_short"
    plot_regions(result.de0, result.de1, result.de2, names=names, status=status, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    bars = ax.patches
    assert len(bars) == 3 * len(names)
    # region I of the first spectrum spans -dE_I to dE_I
    assert bars[0].get_x() == pytest.approx(-result.de1[0])
    assert bars[0].get_width() == pytest.approx(2 * result.de1[0])
    assert any(t.get_text() == "region_i_too_short" for t in ax.texts)


def test_training_curves_from_the_history(fitted, ax):
    subtractor = fitted[0]
    plot_training_curves(subtractor, ax=ax)
    (valid,) = _by_gid(ax, "valid_curve")
    assert len(valid.get_xdata()) == 200  # one point per epoch
    (kept,) = _by_gid(ax, "kept")
    reg = subtractor.regressor_
    np.testing.assert_array_equal(kept.get_xdata(), reg.replica_best_epoch_[reg.kept_])
    assert ax.get_yscale() == "log"
    with pytest.raises(TypeError, match="fitted ZLPSubtractor"):
        plot_training_curves(object(), ax=ax)


def test_quality_panels(fitted):
    subtractor, result, _, names = fitted
    fig = plot_quality(result, subtractor, names=names)
    try:
        left, right = fig.axes[:2]
        (bars,) = [c for c in left.containers]
        heights = [b.get_height() for b in bars]
        np.testing.assert_allclose(heights, result.diagnostics["region_i_chi2"])
        flagged = [
            t.get_text().strip()
            for t in left.texts
            if t.get_text().strip() != "poor-fit threshold"
        ]
        assert flagged == [s for s in result.status if s != "ok"]
        assert right.get_yscale() == "log"
    finally:
        plt.close(fig)
    fig = plot_quality(result)
    assert len(fig.axes) == 1
    plt.close(fig)


def test_maps_figure():
    from sklearn_zlp.maps import FIELDS, SpectralMaps

    packed = np.zeros((2, 3, len(FIELDS)))
    packed[..., FIELDS.index("t_over_lambda")] = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    maps = SpectralMaps(
        packed,
        [
            {"name": n, "size": s, "offset": 0.0, "scale": 1.0, "units": "nm"}
            for n, s in (("y", 2), ("x", 3))
        ],
        0.68,
    )
    fig = plot_maps(maps, fields=("t_over_lambda",))
    try:
        image = fig.axes[0].images[0].get_array()
        np.testing.assert_allclose(image, maps.t_over_lambda)
    finally:
        plt.close(fig)


def test_new_figure_when_no_axes_given():
    before = plt.get_fignums()
    ax = plot_subtracted(np.linspace(0, 5, 50), np.ones(50))
    assert plt.get_fignums() != before
    plt.close(ax.figure)


def test_quality_with_many_spectra_names_none():
    from types import SimpleNamespace

    status = np.array(["ok"] * 70, dtype=object)
    status[5] = "extrapolated"
    result = SimpleNamespace(status=status, diagnostics={"region_i_chi2": np.ones(70)})
    fig = plot_quality(result)
    try:
        (ax,) = fig.axes
        assert ax.get_xlabel() == "spectrum index"
        assert [t.get_text() for t in ax.texts] == [" poor-fit threshold"]
        colours = {tuple(p.get_facecolor()) for p in ax.containers[0]}
        assert len(colours) == 2  # the flagged one stands out
    finally:
        plt.close(fig)
