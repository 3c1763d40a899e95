"""ZLPSignals: what remove_zlp returns, HyperSpy signals built from one packed array."""

import copy

import numpy as np

from ..io._optional import _import_hyperspy
from ..maps._compute import status_names

__all__ = ["ZLPSignals", "packed_width"]

# Per pixel, along the last axis of the packed array: six spectra of n_channels
# (in the order of _SPECTRA), then t/lambda, its band and the two status codes.
_SPECTRA = (
    ("subtracted", "ZLP subtracted", "median"),
    ("subtracted_lower", "ZLP subtracted", "lower"),
    ("subtracted_upper", "ZLP subtracted", "upper"),
    ("zlp", "matched ZLP", "median"),
    ("zlp_lower", "matched ZLP", "lower"),
    ("zlp_upper", "matched ZLP", "upper"),
)
_SCALARS = ("t_over_lambda", "t_over_lambda_lower", "t_over_lambda_upper")
_STATUSES = ("status", "t_over_lambda_status")


def packed_width(n_channels):
    """Numbers per pixel in the packed array."""
    return len(_SPECTRA) * n_channels + len(_SCALARS) + len(_STATUSES)


def _statistic_name(statistic, level):
    if statistic == "median":
        return "median"
    edge = (1 - level) / 2 if statistic == "lower" else (1 + level) / 2
    return f"{statistic} edge of the {level:.0%} band, {edge:.1%} percentile"


def _is_lazy(array):
    return hasattr(array, "dask")


class ZLPSignals:
    """The ZLP, the subtracted spectra and their bands as HyperSpy signals.

    Made by :func:`remove_zlp`. The six spectrum signals have the input's
    navigation axes and an energy axis in eV (the aligned one, see
    :func:`remove_zlp`), the input's metadata with a new title, and its class
    (an eXSpy ``EELSSpectrum`` stays one). The t/lambda signals have the
    navigation axes as their signal axes (``Signal2D`` for an image,
    ``Signal1D`` for a line scan). A value that cannot be trusted is NaN and
    ``status`` says why (:func:`~sklearn_zlp.describe_status`).

    Attributes
    ----------
    subtracted, subtracted_lower, subtracted_upper : hyperspy signal
        Median over replicas of the ZLP-free spectra, and the lower and upper
        edges of its band at ``confidence_level`` (16th and 84th percentiles
        at 0.68).
    zlp, zlp_lower, zlp_upper : hyperspy signal
        The matched ZLP (the data below dE_0, the model above dE_I), median
        and band.
    t_over_lambda, t_over_lambda_lower, t_over_lambda_upper : hyperspy signal
        Relative thickness ln(I_total / I_ZLP) per pixel, median and band.
    status, t_over_lambda_status : ndarray or dask array of str
        Per pixel, navigation-shaped: ``"ok"`` or why the subtraction (or
        t/lambda) may not be trusted.
    subtractor : ZLPSubtractor
        The fitted subtractor (pass it back as ``remove_zlp(other,
        subtractor=...)`` to apply it to another signal without fitting).
    aligner : ZeroLossAligner or None
        The fitted aligner (None with ``align=False``).
    energy : ndarray of shape (n_channels,)
        The output energy axis in eV.
    confidence_level : float
        Level of the bands.
    lazy : bool
        True when the signals are lazy (call :meth:`compute`).
    """

    def __init__(self, packed, source, energy, subtractor, aligner, confidence_level):
        self._packed = packed
        self._source = source  # SignalInput, for axes and metadata
        self.energy = energy
        self.subtractor = subtractor
        self.aligner = aligner
        self.confidence_level = float(confidence_level)
        self._build()

    @property
    def lazy(self):
        return _is_lazy(self._packed)

    def compute(self, **kwargs):
        """Compute every lazy signal in one pass over the data.

        Computing the signals one by one (``result.subtracted.compute()``)
        would repeat the subtraction for each; this runs it once.

        Parameters
        ----------
        **kwargs : dict
            Passed to ``dask.array.Array.compute`` (e.g. ``scheduler``).

        Returns
        -------
        signals : ZLPSignals
            A new result holding signals in memory (``self`` if not lazy).
        """
        if not self.lazy:
            return self
        return ZLPSignals(
            self._packed.compute(**kwargs),
            self._source,
            self.energy,
            self.subtractor,
            self.aligner,
            self.confidence_level,
        )

    def _build(self):
        hs = _import_hyperspy()
        packed, source, level = self._packed, self._source, self.confidence_level
        n_channels = self.energy.size
        title = source.title or "spectrum"
        metadata = copy.deepcopy(source.metadata)
        # the input's noise variance is not that of a subtracted spectrum
        metadata.get("Signal", {}).pop("Noise_properties", None)
        signal_type = metadata.get("Signal", {}).get("signal_type", "")
        energy_axis = {
            "name": source.energy_name,
            "size": n_channels,
            "offset": float(self.energy[0]),
            "scale": float((self.energy[-1] - self.energy[0]) / (n_channels - 1)),
            "units": "eV",
            "navigate": False,
        }
        axes = [dict(a) for a in source.navigation_axes] + [energy_axis]
        for i, (name, what, statistic) in enumerate(_SPECTRA):
            md = copy.deepcopy(metadata)
            md.setdefault("General", {})["title"] = f"{title} ({what}, {statistic})"
            md["ZLP_removal"] = {
                "quantity": what,
                "statistic": _statistic_name(statistic, level),
                "confidence_level": level,
                "method": "sklearn_zlp.hyperspy.remove_zlp",
            }
            data = packed[..., i * n_channels : (i + 1) * n_channels]
            signal = hs.signals.Signal1D(
                data,
                axes=copy.deepcopy(axes),
                metadata=md,
                original_metadata=copy.deepcopy(source.original_metadata),
            )
            if self.lazy:
                signal = signal.as_lazy()  # takes the class of signal_type (eXSpy's)
            elif signal_type:
                signal.set_signal_type(signal_type)
            setattr(self, name, signal)
        start = len(_SPECTRA) * n_channels
        for j, name in enumerate(_SCALARS):
            statistic = name.rsplit("_", 1)[-1] if j else "median"
            self._set_map(
                hs,
                name,
                packed[..., start + j],
                f"t/lambda of {title} ({_statistic_name(statistic, level)})",
            )
        names = np.asarray(status_names())
        for j, name in enumerate(_STATUSES):
            codes = packed[..., start + len(_SCALARS) + j]
            if self.lazy:
                status = codes.map_blocks(
                    lambda c: names[c.astype(np.intp)], dtype=names.dtype
                )
            else:
                status = names[codes.astype(np.intp)]
            setattr(self, name, status)

    def _set_map(self, hs, name, data, title):
        axes = [dict(a, navigate=False) for a in self._source.navigation_axes]
        if len(axes) == 2:
            signal = hs.signals.Signal2D(data, axes=axes)
        elif len(axes) == 1:
            signal = hs.signals.Signal1D(data, axes=axes)
        elif len(axes) == 0:
            signal = hs.signals.BaseSignal(data.reshape(1))
        else:
            signal = hs.signals.BaseSignal(data, axes=axes)
        signal.metadata.General.title = title
        setattr(self, name, signal.as_lazy() if self.lazy else signal)

    def __repr__(self):
        shape = self._source.navigation_shape
        lazy = ", lazy" if self.lazy else ""
        return (
            f"ZLPSignals(navigation shape {shape}, {self.energy.size} channels, "
            f"{self.confidence_level:g} bands{lazy})"
        )
