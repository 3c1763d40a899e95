"""spectral_maps(): a fitted ZLPSubtractor applied to a whole spectrum image."""

import numbers

import numpy as np
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from .._status import OK
from ._compute import FIELDS, STATUS_FIELDS, VALUE_FIELDS, block_maps, status_names

__all__ = ["SpectralMaps", "spectral_maps"]

_BAND_GAP_OPTIONS = ("window", "b", "background", "search_start", "search_end", "zlp")


def _is_dask(array):
    return type(array).__module__.split(".")[0] == "dask" and hasattr(array, "map_blocks")


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


def _image_data(image, energy):
    """(data of shape (..., n_channels), navigation axes) of any accepted image."""
    axes = None
    if _is_signal(image):
        from ..io._hyperspy import from_hyperspy

        if image.axes_manager.signal_dimension != 1:
            from_hyperspy(image)  # raises the reader's error for a non-spectrum signal
        # the energy axis from one spectrum (a lazy signal stays lazy otherwise)
        first = image.inav[(0,) * image.axes_manager.navigation_dimension]
        _, axis_ev, _ = from_hyperspy(first)
        if axis_ev.shape != energy.shape or not np.allclose(axis_ev, energy, atol=1e-9):
            raise ValueError(
                f"the signal's energy axis ({axis_ev[0]:.4g} to {axis_ev[-1]:.4g} eV, "
                f"{axis_ev.size} channels) is not the subtractor's ({energy[0]:.4g} to "
                f"{energy[-1]:.4g} eV, {energy.size} channels); align the image on the "
                "axis the subtractor was fitted on (ZeroLossAligner)."
            )
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


class SpectralMaps:
    """Per-pixel maps of a spectrum image, with bands and statuses.

    Made by :func:`spectral_maps`. Every map has the navigation shape of the
    image (``(ny, nx)`` for an image, ``(n,)`` for a line scan). A number that
    cannot be trusted is NaN with its status saying why (``"ok"`` otherwise):
    ``status`` for the subtraction, ``t_over_lambda_status`` and
    ``e_bg_status`` for the two estimates (the latter also for ``b``).

    Attributes
    ----------
    t_over_lambda : ndarray of shape navigation_shape
        Relative thickness, median over replicas.
    t_over_lambda_band : ndarray of shape (2, \\*navigation_shape)
        Its band at ``confidence_level`` (lower, upper).
    e_bg, b : ndarray of shape navigation_shape
        Band gap in eV and onset exponent, medians over the ok replicas.
    e_bg_band, b_band : ndarray of shape (2, \\*navigation_shape)
        Their bands.
    p_indirect : ndarray of shape navigation_shape
        Probability that the gap is indirect (see :func:`fit_band_gap`).
    de1, de2 : ndarray of shape navigation_shape
        dE_I and dE_II used for each pixel, in eV.
    cluster : ndarray of int of shape navigation_shape
        Thickness cluster of each pixel (-1 without clusters).
    status, t_over_lambda_status, e_bg_status : ndarray of str
        Statuses (see :func:`sklearn_zlp.describe_status`).
    navigation_shape : tuple of int
    navigation_axes : list of dict
        Name, size, offset, scale and units of each navigation axis.
    confidence_level : float
    lazy : bool
        True while the maps are a dask array (call :meth:`compute`).
    """

    def __init__(self, packed, navigation_axes, confidence_level, names=None):
        self._packed = packed
        self.navigation_axes = navigation_axes
        self.navigation_shape = tuple(packed.shape[:-1])
        self.confidence_level = confidence_level
        self._names = status_names() if names is None else list(names)

    @property
    def lazy(self):
        return _is_dask(self._packed)

    def compute(self, **kwargs):
        """The computed maps (itself when not lazy); ``kwargs`` go to dask's compute."""
        if not self.lazy:
            return self
        return SpectralMaps(
            np.asarray(self._packed.compute(**kwargs)),
            self.navigation_axes,
            self.confidence_level,
            self._names,
        )

    @property
    def packed(self):
        """Every map stacked on the last axis, in the order of :data:`FIELDS`."""
        return self._packed

    def _field(self, name):
        if self.lazy:
            raise RuntimeError(
                "these maps are lazy (a dask array); call maps = maps.compute() first, "
                "or use maps.packed for the dask array itself."
            )
        return self._packed[..., FIELDS.index(name)]

    def _status(self, name):
        codes = self._field(name)
        names = np.array(self._names, dtype=object)
        return names[np.nan_to_num(codes, nan=0).astype(int)]

    def _band(self, name):
        return np.stack([self._field(f"{name}_low"), self._field(f"{name}_high")])

    t_over_lambda = property(lambda self: self._field("t_over_lambda"))
    t_over_lambda_band = property(lambda self: self._band("t_over_lambda"))
    e_bg = property(lambda self: self._field("e_bg"))
    e_bg_band = property(lambda self: self._band("e_bg"))
    b = property(lambda self: self._field("b"))
    b_band = property(lambda self: self._band("b"))
    p_indirect = property(lambda self: self._field("p_indirect"))
    de1 = property(lambda self: self._field("de1"))
    de2 = property(lambda self: self._field("de2"))
    cluster = property(
        lambda self: np.nan_to_num(self._field("cluster"), nan=-1).astype(int)
    )
    status = property(lambda self: self._status("status"))
    t_over_lambda_status = property(lambda self: self._status("t_over_lambda_status"))
    e_bg_status = property(lambda self: self._status("e_bg_status"))

    def as_dict(self):
        """Every map as a NumPy array (statuses as str arrays), keyed by name."""
        out = {name: self._field(name) for name in VALUE_FIELDS}
        out["cluster"] = self.cluster
        out.update({name: self._status(name).astype(str) for name in STATUS_FIELDS})
        return out

    def summary(self):
        """Fractions of ok pixels and the medians of the maps, as text."""
        lines = [
            f"SpectralMaps: {' x '.join(map(str, self.navigation_shape))} pixels, "
            f"bands at {self.confidence_level:.0%}"
        ]
        for value, status in (
            ("t_over_lambda", "t_over_lambda_status"),
            ("e_bg", "e_bg_status"),
            ("b", "e_bg_status"),
        ):
            v, s = self._field(value), self._status(status)
            ok = s == OK
            median = np.nanmedian(v[ok]) if np.isfinite(v[ok]).any() else np.nan
            names, counts = np.unique(s[~ok].astype(str), return_counts=True)
            flagged = ", ".join(f"{c} {n}" for n, c in zip(names, counts, strict=True))
            lines.append(
                f"  {value:>13}: {ok.mean():6.1%} ok, median {median:.4g}"
                + (f"; flagged: {flagged}" if flagged else "")
            )
        return "\n".join(lines)

    def to_npz(self, path):
        """Save every map (and the navigation axes) to a compressed .npz file."""
        import json

        arrays = self.as_dict()
        np.savez_compressed(
            path,
            navigation_axes=np.array(json.dumps(self.navigation_axes)),
            confidence_level=np.array(self.confidence_level),
            **arrays,
        )
        return path

    def to_hyperspy(self):
        """Every map as a HyperSpy signal with the image's navigation axes.

        Returns
        -------
        signals : dict of str to hyperspy signal
            2-D maps are ``Signal2D`` (line scans ``Signal1D``) whose signal
            axes are the image's navigation axes; statuses are str arrays
            (``BaseSignal``), bands have a navigation axis ``band``
            (lower, upper).
        """
        from ..io._optional import _import_hyperspy

        hs = _import_hyperspy()
        axes = [dict(a, navigate=False) for a in self.navigation_axes]
        out = {}
        for name, data in self.as_dict().items():
            if data.dtype.kind in "US":
                signal = hs.signals.BaseSignal(data.astype(object))
            elif len(axes) == 2:
                signal = hs.signals.Signal2D(data, axes=axes)
            elif len(axes) == 1:
                signal = hs.signals.Signal1D(data, axes=axes)
            else:
                signal = hs.signals.BaseSignal(data)
            signal.metadata.General.title = name
            out[name] = signal
        return out

    def plot(self, fields=("t_over_lambda", "e_bg", "b", "cluster"), *, figsize=None):
        """A matplotlib figure: each map with the width of its band below it.

        Pixels whose status is not "ok" are shown grey. Needs matplotlib.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        status_of = {"t_over_lambda": "t_over_lambda_status", "e_bg": "e_bg_status"}
        status_of["b"] = "e_bg_status"
        banded = [f for f in fields if f in status_of]
        n_rows = 2 if banded else 1
        fig, axes = plt.subplots(
            n_rows,
            len(fields),
            figsize=figsize or (3.2 * len(fields), 2.9 * n_rows),
            squeeze=False,
            layout="constrained",
        )
        extent = None
        if len(self.navigation_shape) == 2:
            (ya, xa) = self.navigation_axes
            extent = [
                xa["offset"],
                xa["offset"] + xa["scale"] * xa["size"],
                ya["offset"] + ya["scale"] * ya["size"],
                ya["offset"],
            ]
        cmap = plt.get_cmap("viridis").with_extremes(bad="0.7")
        units = {"t_over_lambda": "", "e_bg": " (eV)", "b": "", "cluster": ""}
        for j, name in enumerate(fields):
            value = self.cluster.astype(float) if name == "cluster" else self._field(name)
            if name in status_of:
                value = np.where(self._status(status_of[name]) == OK, value, np.nan)
            image = np.atleast_2d(value)
            im = axes[0, j].imshow(image, cmap=cmap, extent=extent, interpolation="nearest")
            axes[0, j].set_title(f"{name}{units.get(name, '')}")
            fig.colorbar(im, ax=axes[0, j], shrink=0.8)
            if n_rows == 2:
                ax = axes[1, j]
                if name in status_of:
                    low, high = self._band(name)
                    width = np.where(np.isfinite(value), high - low, np.nan)
                    im = ax.imshow(
                        np.atleast_2d(width),
                        cmap=cmap,
                        extent=extent,
                        interpolation="nearest",
                    )
                    ax.set_title(f"{name}: {self.confidence_level:.0%} band width")
                    fig.colorbar(im, ax=ax, shrink=0.8)
                else:
                    ax.axis("off")
        return fig

    def __repr__(self):
        state = "lazy" if self.lazy else "computed"
        return f"<SpectralMaps {self.navigation_shape} ({state})>"


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
    image : array-like of shape (..., n_channels), dask array or HyperSpy signal
        Aligned spectra on ``subtractor.energy_axis_``: an image (ny, nx,
        n_channels), a line scan (n, n_channels) or one spectrum.
    band_gap : bool, default=True
        Fit the band-gap onset (:func:`~sklearn_zlp.physics.fit_band_gap`) on
        every pixel's replicas; False maps t/lambda only.
    confidence_level : float, default=0.68
        Level of the bands.
    block_size : int, default=1024
        Pixels per task (and progress step) for arrays in memory; results do
        not depend on it. Dask arrays use their own chunks.
    n_jobs : int, default=None
        Blocks of an array in memory processed in parallel through
        :class:`sklearn.utils.parallel.Parallel` (any joblib backend: loky,
        dask, ray); -1 for all cores, None for one unless in a
        :func:`joblib.parallel_config` context. Results do not depend on it.
    progress : bool, default=False
        Show a progress bar (tqdm) over the pixels of an array in memory.
    **band_gap_options
        ``window``, ``b``, ``background``, ``search_start``, ``search_end``:
        passed to :func:`~sklearn_zlp.physics.fit_band_gap`.

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
    if _is_dask(data):
        # one chunk along the energy axis; navigation chunks as given
        data = data.rechunk({data.ndim - 1: -1})

        def block(chunk):
            flat = chunk.reshape(-1, chunk.shape[-1])
            return block_maps(subtractor, flat, options).reshape(
                *chunk.shape[:-1], n_fields
            )

        packed = data.map_blocks(
            block,
            dtype=np.float64,
            chunks=data.chunks[:-1] + ((n_fields,),),
            meta=np.empty((0,) * data.ndim, dtype=np.float64),
        )
        return SpectralMaps(packed, axes, float(confidence_level))
    flat = np.asarray(data, dtype=np.float64).reshape(-1, energy.size)
    packed = np.empty((flat.shape[0], n_fields))
    step = max(1, int(block_size))
    blocks = [slice(i, min(i + step, flat.shape[0])) for i in range(0, flat.shape[0], step)]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(block_maps)(subtractor, flat[rows], options) for rows in blocks
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=flat.shape[0], unit="pixel", desc="maps")
    for rows, values in zip(blocks, results, strict=True):
        packed[rows] = values
        if bar is not None:
            bar.update(rows.stop - rows.start)
    if bar is not None:
        bar.close()
    return SpectralMaps(
        packed.reshape(*navigation, n_fields), axes, float(confidence_level)
    )
