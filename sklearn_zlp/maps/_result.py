"""SpectralMaps: the per-pixel maps of a spectrum image, saved and loaded."""

import numpy as np

from .._status import OK
from ._compute import FIELDS, STATUS_FIELDS, VALUE_FIELDS, status_names

__all__ = ["SpectralMaps"]


def _is_dask(array):
    return type(array).__module__.split(".")[0] == "dask" and hasattr(array, "map_blocks")


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

    def save(self, path):
        """Save the maps: ``.npz`` (NumPy), or ``.hspy``/``.zspy`` (HyperSpy).

        The HyperSpy file holds one signal whose navigation axis ``field`` runs
        over :data:`FIELDS` (statuses as codes, their names in
        ``metadata.SpectralMaps.status_names``) and whose signal axes are the
        image's navigation axes; :meth:`load` reads either format back.

        Returns
        -------
        path : str
        """
        import os

        path = os.fspath(path)
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npz":
            return self.to_npz(path)
        if suffix not in (".hspy", ".zspy"):
            raise ValueError(
                f"cannot save maps as {suffix or 'a file without extension'!r}; use "
                "'.npz', or '.hspy'/'.zspy' with HyperSpy installed."
            )
        from ..io._optional import _import_hyperspy

        hs = _import_hyperspy()
        data = np.moveaxis(np.asarray(self.compute()._packed), -1, 0)
        axes = [{"name": "field", "size": len(FIELDS), "navigate": True}]
        axes += [dict(a, navigate=False) for a in self.navigation_axes]
        signal = hs.signals.BaseSignal(data, axes=axes)
        signal = signal.transpose(signal_axes=len(self.navigation_axes))
        signal.metadata.General.title = "SpectralMaps"
        signal.metadata.set_item("SpectralMaps.fields", list(FIELDS))
        signal.metadata.set_item("SpectralMaps.status_names", list(self._names))
        signal.metadata.set_item("SpectralMaps.confidence_level", self.confidence_level)
        signal.save(path, overwrite=True)
        return path

    @classmethod
    def load(cls, path):
        """Maps saved by :meth:`save` (``.npz``, ``.hspy`` or ``.zspy``)."""
        import json
        import os

        path = os.fspath(path)
        if path.lower().endswith(".npz"):
            with np.load(path, allow_pickle=False) as saved:
                axes = json.loads(str(saved["navigation_axes"]))
                names = status_names()
                index = {n: i for i, n in enumerate(names)}
                columns = []
                for name in FIELDS:
                    if name in STATUS_FIELDS:
                        columns.append(
                            np.vectorize(index.__getitem__, otypes=[float])(saved[name])
                        )
                    else:
                        columns.append(saved[name].astype(float))
                level = float(saved["confidence_level"])
            packed = np.stack(columns, axis=-1)
            return cls(packed, axes, level, names)
        from ..io._optional import _import_hyperspy

        hs = _import_hyperspy()
        signal = hs.load(path)
        md = signal.metadata.SpectralMaps
        if list(md.fields) != list(FIELDS):
            raise ValueError(
                f"{path} holds maps with fields {list(md.fields)}, not those of this "
                f"version ({list(FIELDS)}); save them again with this version."
            )
        packed = np.moveaxis(np.asarray(signal.data), 0, -1)
        axes = [
            {
                "name": str(a.name),
                "size": int(a.size),
                "offset": float(a.offset),
                "scale": float(a.scale),
                "units": a.units if isinstance(a.units, str) else "",
            }
            for a in signal.axes_manager.signal_axes[::-1]
        ]
        return cls(packed, axes, float(md.confidence_level), list(md.status_names))

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
            style = {"cmap": cmap}
            if name == "cluster":  # one colour per cluster
                k = max(int(np.nanmax(value)) + 1, 1)
                style = {"cmap": plt.get_cmap("tab10", k), "vmin": -0.5, "vmax": k - 0.5}
            im = axes[0, j].imshow(image, extent=extent, interpolation="nearest", **style)
            axes[0, j].set_title(f"{name}{units.get(name, '')}")
            ticks = np.arange(style["vmax"] + 0.5) if name == "cluster" else None
            fig.colorbar(im, ax=axes[0, j], shrink=0.8, ticks=ticks)
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
                    ax.set_title(f"{self.confidence_level:.0%} band width")
                    fig.colorbar(im, ax=ax, shrink=0.8)
                else:
                    ax.axis("off")
        return fig

    def __repr__(self):
        state = "lazy" if self.lazy else "computed"
        return f"<SpectralMaps {self.navigation_shape} ({state})>"
