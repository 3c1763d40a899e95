"""What remove_zlp accepts: a HyperSpy spectrum (image), its energy axis, vacuum spectra."""

import numpy as np

from ..io._axes import _energy_factor
from ..io._optional import _import_hyperspy

__all__ = ["SignalInput", "check_signal", "vacuum_spectra"]


class SignalInput:
    """The parts of a validated signal that remove_zlp needs.

    Attributes
    ----------
    data : ndarray or dask array of shape (\\*navigation_shape, n_channels)
        The intensities, energy axis last (a view; never modified).
    energy : ndarray of shape (n_channels,)
        The signal's energy axis in eV.
    navigation_axes : list of dict
        One dict per navigation axis in the order of ``data``'s axes.
    metadata, original_metadata : dict
        The signal's metadata trees as dicts (copies).
    lazy : bool
        Whether ``data`` is a dask array.
    energy_name : str
        The name of the signal's energy axis ("Energy loss" if it had none).
    """

    def __init__(
        self, data, energy, navigation_axes, metadata, original_metadata, lazy, energy_name
    ):
        self.energy_name = energy_name
        self.data = data
        self.energy = energy
        self.navigation_axes = navigation_axes
        self.metadata = metadata
        self.original_metadata = original_metadata
        self.lazy = lazy

    @property
    def navigation_shape(self):
        return tuple(self.data.shape[:-1])

    @property
    def title(self):
        return str(self.metadata.get("General", {}).get("title", "") or "")


def _axis_dict(axis, navigate):
    units = axis.units if isinstance(axis.units, str) else ""  # traits' Undefined
    name = axis.name if isinstance(axis.name, str) else ""
    return {
        "name": name,
        "size": int(axis.size),
        "offset": float(axis.offset),
        "scale": float(axis.scale),
        "units": units,
        "navigate": navigate,
    }


def check_signal(signal, *, stacklevel=4):
    """Validate ``signal`` as a uniform 1-D energy-loss signal; return a SignalInput."""
    _import_hyperspy()
    from hyperspy.signal import BaseSignal

    if not isinstance(signal, BaseSignal):
        raise TypeError(
            f"remove_zlp expects a HyperSpy signal (Signal1D or eXSpy EELSSpectrum), got "
            f"{type(signal).__name__}; for arrays use ZLPSubtractor directly, for files "
            "sklearn_zlp.io.read_spectra or hyperspy.api.load."
        )
    manager = signal.axes_manager
    title = str(signal.metadata.get_item("General.title", "") or "")
    where = f"signal '{title}'" if title else "the signal"
    if manager.signal_dimension != 1:
        raise ValueError(
            f"{where} has {manager.signal_dimension} signal dimensions (shape "
            f"{signal.data.shape}), but remove_zlp needs a Signal1D whose one signal axis "
            "is the energy loss; make it so first, e.g. signal.as_signal1D(spectral_axis=...)"
            " or signal.transpose(signal_axes=[...])."
        )
    axis = manager.signal_axes[0]
    if not getattr(axis, "is_uniform", True):
        raise ValueError(
            f"The energy axis of {where} is not uniform (its channels are not evenly "
            "spaced), which the alignment and the subtraction need; interpolate the "
            "signal onto a uniform axis first, e.g. with signal.interpolate_on_axis(...)."
        )
    factor = _energy_factor(
        axis.units if isinstance(axis.units, str) else None,
        where,
        stacklevel=stacklevel,
        fix="Convert the axis to eV, or set its units to 'eV' if its values are eV "
        "(signal.axes_manager.signal_axes[0].units = 'eV').",
    )
    data = signal.data
    lazy = bool(getattr(signal, "_lazy", False)) or hasattr(data, "dask")
    if data.dtype.kind not in "iuf":
        raise ValueError(
            f"{where} holds {data.dtype} values, not real intensities; convert them "
            "first, e.g. signal.data = signal.data.astype(float) (or abs(signal) for "
            "complex data)."
        )
    if axis.index_in_array != data.ndim - 1:  # a transposed signal: energy last
        if lazy:
            import dask.array as da

            data = da.moveaxis(data, axis.index_in_array, -1)
        else:
            data = np.moveaxis(data, axis.index_in_array, -1)
    energy = np.asarray(axis.axis, dtype=np.float64) * factor
    if energy.size < 8:
        raise ValueError(
            f"The energy axis of {where} has {energy.size} channels; a zero-loss peak "
            "and its tails need many more (a low-loss spectrum has hundreds)."
        )
    if not np.all(np.diff(energy) > 0):
        raise ValueError(
            f"The energy axis of {where} is not increasing (scale "
            f"{float(axis.scale):.4g}); reverse it first, e.g. signal.isig[::-1] with a "
            "positive scale."
        )
    navigation = sorted(manager.navigation_axes, key=lambda a: a.index_in_array)
    return SignalInput(
        data=data,
        energy=energy,
        navigation_axes=[_axis_dict(a, True) for a in navigation],
        metadata=signal.metadata.as_dictionary(),
        original_metadata=signal.original_metadata.as_dictionary(),
        lazy=lazy,
        energy_name=_axis_dict(axis, False)["name"] or "Energy loss",
    )


def vacuum_spectra(vacuum, energy):
    """Vacuum spectra (signal or array) as an array (n_vacuum, n_channels) on ``energy``."""
    if vacuum is None:
        return None
    if hasattr(vacuum, "axes_manager"):
        from ..io._hyperspy import from_hyperspy

        spectra, axis, _ = from_hyperspy(vacuum)
        if axis.shape != energy.shape or not np.allclose(axis, energy, rtol=0, atol=1e-9):
            raise ValueError(
                f"The vacuum signal's energy axis ({axis[0]:.4g} to {axis[-1]:.4g} eV, "
                f"{axis.size} channels) is not the signal's ({energy[0]:.4g} to "
                f"{energy[-1]:.4g} eV, {energy.size} channels); record or crop both on "
                "the same axis (the same offset, dispersion and channel count)."
            )
        return spectra
    spectra = np.asarray(vacuum)
    if hasattr(spectra, "dask") or spectra.dtype.kind not in "iuf":
        raise ValueError(
            f"vacuum must be a HyperSpy signal or an array of real intensities, got "
            f"{type(vacuum).__name__} of {spectra.dtype}."
        )
    spectra = np.atleast_2d(spectra.astype(np.float64))
    if spectra.ndim != 2 or spectra.shape[1] != energy.size:
        raise ValueError(
            f"vacuum has shape {np.shape(vacuum)}, but the signal has {energy.size} "
            f"channels: pass spectra of shape (n_vacuum, {energy.size}) on the signal's "
            "energy axis, or a HyperSpy signal with that axis."
        )
    if not np.all(np.isfinite(spectra)):
        raise ValueError(
            "vacuum holds NaN or infinite values; replace or drop those spectra first."
        )
    return spectra
