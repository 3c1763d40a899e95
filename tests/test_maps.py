"""Per-pixel maps of spectrum images against the ground truth of synthetic images."""

import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.maps import FIELDS, SpectralMaps, spectral_maps

ENERGY = np.linspace(-2.0, 18.0, 512)
THICKNESS = np.repeat([[1.0] * 3 + [0.6] * 3 + [0.3] * 4], 6, axis=0)  # (6, 10)
REGION = np.repeat([[0] * 3 + [1] * 3 + [2] * 4], 6, axis=0)
E_BG = 1.6


@pytest.fixture(scope="module")
def image():
    return make_synthetic_eels(
        image_shape=THICKNESS.shape,
        energy=ENERGY,
        t_over_lambda=THICKNESS,
        e_bg=E_BG,
        plasmon_energy=15.0,
        random_state=0,
    )


@pytest.fixture(scope="module")
def subtractor(image):
    return ZLPSubtractor(
        ENERGY,
        regressor=ZLPEnsembleRegressor(
            n_replicas=16, max_epochs=3000, lr=0.1, n_jobs=2, random_state=0
        ),
        regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
        training="clusters",
        random_state=0,
    ).fit(image.spectra.reshape(-1, ENERGY.size))


@pytest.fixture(scope="module")
def maps(subtractor, image):
    return spectral_maps(subtractor, image.spectra)


def _axis_thickness(image):
    # what ln(I_total / I_ZLP) measures on an axis that ends at 18 eV
    return np.log(image.noise_free.sum(-1) / image.zlp.sum(-1))


def test_maps_keep_the_navigation_shape(maps):
    assert maps.navigation_shape == THICKNESS.shape
    for name in ("t_over_lambda", "e_bg", "b", "p_indirect", "de1", "cluster", "status"):
        assert getattr(maps, name).shape == THICKNESS.shape, name
    assert maps.t_over_lambda_band.shape == (2, *THICKNESS.shape)
    assert maps.packed.shape == (*THICKNESS.shape, len(FIELDS))
    assert [a["size"] for a in maps.navigation_axes] == list(THICKNESS.shape)


def test_thickness_map_matches_the_truth(maps, image):
    truth = _axis_thickness(image)
    ok = maps.t_over_lambda_status == "ok"
    assert ok.mean() >= 0.9
    error = (maps.t_over_lambda - truth)[ok]
    assert np.max(np.abs(error)) < 0.01, error
    low, high = maps.t_over_lambda_band
    covered = ((low <= truth) & (truth <= high))[ok]
    # 68% bands hold the truth at least 68% of the time (they are conservative:
    # 1.00 here, the errors' 68th percentile a quarter of the half-width)
    assert covered.mean() >= 0.68, covered.mean()


def test_band_gap_map_matches_the_truth(maps):
    ok = maps.e_bg_status == "ok"
    assert ok.mean() >= 0.9, maps.summary()
    for c in range(3):  # every thickness region, not only on average
        assert abs(np.median(maps.e_bg[ok & (maps.cluster == c)]) - E_BG) < 0.15, c
    low, high = maps.e_bg_band
    covered = ((low <= E_BG) & (E_BG <= high))[ok]
    assert covered.mean() >= 0.68, covered.mean()  # 1.00 here
    # bands that hold the truth because they are narrow enough to mean something
    assert np.median((high - low)[ok]) / 2 < 0.3
    # a failed pixel is NaN, never a number
    assert np.all(np.isnan(maps.e_bg[~ok]))


def test_cluster_map_is_the_thickness_regions(maps, subtractor):
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(REGION.ravel(), maps.cluster.ravel()) == 1.0
    # each pixel's dE_I is its cluster's
    assert np.array_equal(maps.de1, subtractor.regions_.de1_cluster_[maps.cluster])


def test_a_pixel_does_not_depend_on_the_image_around_it(subtractor, image, maps):
    # the same pixels, alone, as a line scan, in another order
    line = image.spectra[2, ::-1]
    alone = spectral_maps(subtractor, line)
    assert alone.navigation_shape == (THICKNESS.shape[1],)
    assert np.array_equal(alone.packed, maps.packed[2, ::-1], equal_nan=True)


def test_maps_do_not_depend_on_jobs_or_blocks(subtractor, image, maps, capsys):
    parallel = spectral_maps(
        subtractor, image.spectra, n_jobs=2, block_size=7, progress=True
    )
    assert np.array_equal(parallel.packed, maps.packed, equal_nan=True)
    # one progress bar over the pixels
    assert "60/60" in capsys.readouterr().err


def test_dask_maps_stay_lazy_and_equal_numpy_on_a_cluster(
    subtractor, image, maps, dask_client
):
    da = pytest.importorskip("dask.array")
    lazy = spectral_maps(subtractor, da.from_array(image.spectra, chunks=(4, 3, -1)))
    assert lazy.lazy and "lazy" in repr(lazy)
    with pytest.raises(RuntimeError, match="compute"):
        _ = lazy.t_over_lambda
    computed = lazy.compute()  # on the LocalCluster: the client is the default
    assert not computed.lazy
    assert np.array_equal(computed.packed, maps.packed, equal_nan=True)


def test_hyperspy_signals_in_and_out(subtractor, image, maps):
    hs = pytest.importorskip("hyperspy.api")
    signal = hs.signals.Signal1D(image.spectra)
    signal.axes_manager.signal_axes[0].offset = ENERGY[0]
    signal.axes_manager.signal_axes[0].scale = ENERGY[1] - ENERGY[0]
    signal.axes_manager.signal_axes[0].units = "eV"
    x, y = signal.axes_manager.navigation_axes
    x.scale, x.units, y.scale, y.units = 2.5, "nm", 2.5, "nm"
    for source in (signal, signal.as_lazy()):
        from_signal = spectral_maps(subtractor, source)
        from_signal = from_signal.compute(scheduler="threads")
        assert np.array_equal(from_signal.packed, maps.packed, equal_nan=True)
    signals = from_signal.to_hyperspy()
    thickness = signals["t_over_lambda"]
    assert thickness.axes_manager.signal_shape == THICKNESS.shape[::-1]
    assert [a.units for a in thickness.axes_manager.signal_axes] == ["nm", "nm"]
    assert np.array_equal(thickness.data, maps.t_over_lambda, equal_nan=True)
    assert signals["e_bg_status"].data.shape == THICKNESS.shape


def test_maps_save_and_load_both_formats(maps, tmp_path):
    formats = [".npz"]
    try:
        import hyperspy.api  # noqa: F401

        formats.append(".hspy")
    except ImportError:
        pass
    for suffix in formats:
        path = maps.save(tmp_path / f"maps{suffix}")
        back = SpectralMaps.load(path)
        assert np.array_equal(back.packed, maps.packed, equal_nan=True), suffix
        assert back.navigation_axes == maps.navigation_axes
        assert list(back.e_bg_status.ravel()) == list(maps.e_bg_status.ravel())
    with pytest.raises(ValueError, match="'.npz', or '.hspy'"):
        maps.save(tmp_path / "maps.txt")


def test_images_from_files_keep_their_shape(subtractor, image, tmp_path):
    from sklearn_zlp.io import write_spectra

    part = image.spectra[:2, :3]
    expected = spectral_maps(subtractor, part, band_gap=False)
    path = tmp_path / "image.npz"
    write_spectra(path, part.reshape(-1, ENERGY.size), ENERGY, {"navigation_shape": (2, 3)})
    from_file = spectral_maps(subtractor, path, band_gap=False)
    assert from_file.navigation_shape == (2, 3)
    assert np.array_equal(from_file.packed, expected.packed, equal_nan=True)
    # a band gap not asked for is NaN and says so, never "ok"
    assert set(from_file.e_bg_status.ravel()) == {"not_computed"}
    assert np.all(np.isnan(from_file.e_bg))
    write_spectra(tmp_path / "shifted.npz", part.reshape(-1, ENERGY.size), ENERGY + 0.1)
    with pytest.raises(ValueError, match="not the subtractor's"):
        spectral_maps(subtractor, tmp_path / "shifted.npz")


def test_maps_save_summary_and_plot(maps, tmp_path):
    path = maps.to_npz(tmp_path / "maps.npz")
    with np.load(path) as saved:
        assert np.array_equal(saved["e_bg"], maps.e_bg, equal_nan=True)
        assert list(saved["status"].ravel()) == list(maps.status.ravel())
    text = maps.summary()
    assert "6 x 10 pixels" in text and "t_over_lambda" in text
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    fig = maps.plot()
    assert len(fig.axes) >= 4
    # band-gap failures are grey (NaN) in the plot, not a colour of a value
    assert isinstance(maps, SpectralMaps)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda s, x: spectral_maps(s, x[..., :-1]),
            ValueError,
            "511 channels|512 channels",
        ),
        (lambda s, x: spectral_maps(s, x, windw=(1, 3)), TypeError, "windw"),
        (lambda s, x: spectral_maps(s, x.astype(complex)), ValueError, "real intensities"),
        (lambda s, x: spectral_maps(s, x, confidence_level=68), ValueError, "(0, 1)"),
        (lambda s, x: spectral_maps(ZLPSubtractor(ENERGY), x), Exception, "not fitted"),
    ],
)
def test_bad_input_says_what_to_do(subtractor, image, call, error, match):
    with pytest.raises(error, match=match):
        call(subtractor, image.spectra[:1, :2])
