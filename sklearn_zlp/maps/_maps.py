"""spectral_maps(): a fitted ZLPSubtractor applied to a whole spectrum image."""

import numbers

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from .._progress import progress_task
from ..nn._library import engine_settings, run_with_engine_settings
from ._compute import FIELDS, block_maps
from ._result import SpectralMaps, _is_dask

__all__ = ["spectral_maps"]

_BAND_GAP_OPTIONS = (
    "window",
    "b",
    "background",
    "search_start",
    "search_end",
    "resolution",
)


def _is_signal(obj):
    return hasattr(obj, "axes_manager") and hasattr(obj, "data")


def _navigation_axes(signal):
    """Navigation axes of a HyperSpy signal as dicts, in the order of its data's axes."""
    axes = signal.axes_manager.navigation_axes[::-1]  # array order (slowest first)
    return [
        {
            "name": str(a.name),
            "size": int(a.size),
            "offset": float(a.offset),
            "scale": float(a.scale),
            "units": a.units if isinstance(a.units, str) else "",
        }
        for a in axes
    ]


def _default_axes(shape):
    names = ("y", "x") if len(shape) == 2 else tuple(f"axis_{i}" for i in range(len(shape)))
    return [
        {"name": n, "size": int(s), "offset": 0.0, "scale": 1.0, "units": ""}
        for n, s in zip(names, shape, strict=True)
    ]


def _check_axis(axis_ev, energy, where):
    if axis_ev.shape != energy.shape or not np.allclose(axis_ev, energy, atol=1e-9):
        raise ValueError(
            f"{where}'s energy axis ({axis_ev[0]:.4g} to {axis_ev[-1]:.4g} eV, "
            f"{axis_ev.size} channels) is not the subtractor's ({energy[0]:.4g} to "
            f"{energy[-1]:.4g} eV, {energy.size} channels); align the image on the "
            "axis the subtractor was fitted on (ZeroLossAligner)."
        )


def _read_image(path):
    """A file: a lazy HyperSpy signal for .hspy/.zspy when HyperSpy is there, else arrays."""
    import importlib.util
    import os

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix in (".hspy", ".zspy", ".hdf5") and importlib.util.find_spec("hyperspy"):
        import hyperspy.api as hs

        signal = hs.load(path, lazy=True)
        return signal[0] if isinstance(signal, list) else signal
    from ..io import read_spectra

    spectra, axis, metadata = read_spectra(path)
    return spectra.reshape(*metadata["navigation_shape"], axis.size), axis


def _image_data(image, energy):
    """(data of shape (..., n_channels), navigation axes) of any accepted image."""
    axes = None
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        source = image
        image = _read_image(image)
        if isinstance(image, tuple):
            image, axis_ev = image
            _check_axis(axis_ev, energy, f"the file {source}")
    if _is_signal(image):
        from ..io._hyperspy import from_hyperspy

        if image.axes_manager.signal_dimension != 1:
            from_hyperspy(image)  # raises the reader's error for a non-spectrum signal
        # the energy axis from one spectrum (a lazy signal stays lazy otherwise)
        first = image.inav[(0,) * image.axes_manager.navigation_dimension]
        _, axis_ev, _ = from_hyperspy(first)
        _check_axis(axis_ev, energy, "the signal")
        axes = _navigation_axes(image)
        image = image.data
    if not _is_dask(image):
        image = np.asarray(image)
        if image.dtype.kind not in "iuf":
            raise ValueError(
                f"the image holds {image.dtype} values, not real intensities; convert "
                "it to counts (float or int) first."
            )
    if image.ndim < 1 or image.shape[-1] != energy.size:
        raise ValueError(
            f"the image has shape {image.shape}, but the subtractor's energy axis has "
            f"{energy.size} channels: pass an array of shape (..., {energy.size}), the "
            "energy axis last (e.g. (ny, nx, n_channels))."
        )
    return image, axes


def spectral_maps(
    subtractor,
    image,
    *,
    band_gap=True,
    confidence_level=0.68,
    block_size=1024,
    n_jobs=None,
    progress=False,
    **band_gap_options,
):
    """Map t/lambda, E_bg and b with bands and statuses over a spectrum image.

    Every pixel's spectrum is subtracted by the fitted ``subtractor`` with all
    its replicas, and the replicas are reduced to the maps at once, one batch
    of ``subtractor.batch_size`` pixels at a time: memory stays that of a
    batch whatever the image's size. A dask array (or a lazy HyperSpy signal)
    gives lazy maps, computed block by block where dask runs them (threads,
    processes or a ``dask.distributed`` cluster); any chunking gives the same
    numbers, as every pixel's result depends only on the subtractor, its own
    spectrum and the subtractor's ``random_state``.

    Parameters
    ----------
    subtractor : ZLPSubtractor
        Fitted, e.g. with ``training="clusters"`` and
        ``regions=ZLPRegionMask(per="cluster")`` on the same image.
    image : array-like of shape (..., n_channels), dask array, HyperSpy signal or path
        Aligned spectra on ``subtractor.energy_axis_``: an image (ny, nx,
        n_channels), a line scan (n, n_channels) or one spectrum; a lazy
        HyperSpy signal stays lazy. A file is read with
        :func:`~sklearn_zlp.io.read_spectra` (its navigation shape kept), or,
        for .hspy/.zspy with HyperSpy installed, loaded lazily.
    band_gap : bool, default=True
        Fit the band-gap onset (:func:`~sklearn_zlp.physics.fit_band_gap`) on
        every pixel's replicas; False maps t/lambda only.
    confidence_level : float, default=0.68
        Level of the bands.
    block_size : int, default=1024
        Most pixels per task (and progress step) for arrays in memory, fewer
        when that gives each worker at least 4 tasks; results do not depend on
        it. Dask arrays use their own chunks.
    n_jobs : int, default=None
        Blocks of an array in memory processed in parallel through
        :class:`sklearn.utils.parallel.Parallel` (any joblib backend: loky,
        dask, ray); -1 for all cores, None for one unless in a
        :func:`joblib.parallel_config` context. Results do not depend on it.
    progress : bool, default=False
        Show a progress display of its own (stderr) over the pixels of an array
        in memory. Inside a :class:`sklearn_zlp._progress.JobProgress` the
        pixels are reported to that display whatever this is.
    **band_gap_options
        ``window``, ``b``, ``background``, ``search_start``, ``search_end``,
        ``resolution``: passed to :func:`~sklearn_zlp.physics.fit_band_gap`
        (``read_noise`` is the subtractor's).

    Returns
    -------
    maps : SpectralMaps
        Lazy for dask input (``maps.compute()``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> from sklearn_zlp.maps import spectral_maps
    >>> data = make_synthetic_eels(image_shape=(3, 4), t_over_lambda=(0.3, 0.9),
    ...                            random_state=0)
    >>> X = data.spectra.reshape(-1, data.energy.size)
    >>> sub = ZLPSubtractor(
    ...     data.energy, regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
    ...     regressor=ZLPEnsembleRegressor(n_replicas=4, max_epochs=100, lr=0.05,
    ...                                    random_state=0),
    ...     training="clusters", random_state=0).fit(X)
    >>> maps = spectral_maps(sub, data.spectra, band_gap=False)
    >>> maps.t_over_lambda.shape, maps.t_over_lambda_band.shape
    ((3, 4), (2, 3, 4))
    """
    check_is_fitted(subtractor, "regressor_")
    unknown = set(band_gap_options) - set(_BAND_GAP_OPTIONS)
    if unknown:
        raise TypeError(
            f"spectral_maps got unexpected options {sorted(unknown)}; band-gap options "
            f"are {list(_BAND_GAP_OPTIONS)}."
        )
    if not isinstance(confidence_level, numbers.Real) or not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level!r}.")
    energy = subtractor.energy_axis_
    data, axes = _image_data(image, energy)
    navigation = tuple(data.shape[:-1])
    axes = axes if axes is not None else _default_axes(navigation)
    options = {
        "band_gap": bool(band_gap),
        "band_gap_kwargs": dict(band_gap_options),
        "confidence_level": float(confidence_level),
    }
    n_fields = len(FIELDS)
    settings = engine_settings()  # workers run the caller's engine
    if _is_dask(data):
        # one chunk along the energy axis; navigation chunks as given
        data = data.rechunk({data.ndim - 1: -1})

        def block(chunk):
            flat = chunk.reshape(-1, chunk.shape[-1])
            return run_with_engine_settings(
                settings, block_maps, subtractor, flat, options
            ).reshape(*chunk.shape[:-1], n_fields)

        packed = data.map_blocks(
            block,
            dtype=np.float64,
            chunks=data.chunks[:-1] + ((n_fields,),),
            meta=np.empty((0,) * data.ndim, dtype=np.float64),
        )
        return SpectralMaps(packed, axes, float(confidence_level))
    flat = np.asarray(data, dtype=np.float64).reshape(-1, energy.size)
    packed = np.empty((flat.shape[0], n_fields))
    # at least 4 blocks per worker, so that no worker waits while another works
    workers = effective_n_jobs(n_jobs)
    step = max(1, min(int(block_size), -(-flat.shape[0] // (4 * workers))))
    blocks = [slice(i, min(i + step, flat.shape[0])) for i in range(0, flat.shape[0], step)]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(run_with_engine_settings)(
            settings, block_maps, subtractor, flat[rows], options
        )
        for rows in blocks
    )
    with progress_task("maps", flat.shape[0], "pixels", verbose=progress) as task:
        for rows, values in zip(blocks, results, strict=True):
            packed[rows] = values
            task.update(rows.stop - rows.start)
    return SpectralMaps(
        packed.reshape(*navigation, n_fields), axes, float(confidence_level)
    )
