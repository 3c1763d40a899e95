"""Energy axes: units, the ``energy=`` argument of the readers, HyperSpy axis dicts."""

import warnings

import numpy as np

from .._validation import check_energy_axis

# Case matters for the prefix: meV is milli, MeV mega.
_ENERGY_UNITS = {"eV": 1.0, "keV": 1e3, "meV": 1e-3, "MeV": 1e6}
_ELECTRONVOLT = ("ev", "electron volt", "electron volts", "electronvolt", "electronvolts")


def _energy_unit_factor(units):
    """eV per unit of ``units`` (a string), or None if it is not an energy unit."""
    units = str(units).strip()
    if units in _ENERGY_UNITS:
        return _ENERGY_UNITS[units]
    lower = units.lower()
    if lower in _ELECTRONVOLT:
        return 1.0
    if lower == "kev":
        return 1e3
    return None  # "mev" could be milli or mega: not guessed


def _energy_factor(units, where, stacklevel, fix):
    """eV per unit of an axis's ``units``; warn if there are none, raise if wrong.

    Uncalibrated axes (no units) are common and are taken as eV with a warning;
    an axis in nm, s or any other non-energy unit is an error, since reading it as
    eV would silently give a wrong axis.
    """
    units = "" if units is None else str(units).strip()
    if not units:
        warnings.warn(
            f"The energy axis of {where} has units '(none)', not eV; its values are "
            f"taken as eV. {fix}",
            UserWarning,
            stacklevel=stacklevel,
        )
        return 1.0
    factor = _energy_unit_factor(units)
    if factor is None:
        raise ValueError(
            f"The energy axis of {where} has units {units!r}, not an energy: the axis "
            f"must be in eV (keV and meV are converted). {fix}"
        )
    return factor


def _no_energy_error(source, n_channels, hint=""):
    return ValueError(
        f"'{source}' holds spectra of {n_channels} channels but no energy axis, so "
        "pass one: read_spectra(path, energy=(offset, dispersion)) puts channel i at "
        f"offset + dispersion * i eV, or read_spectra(path, energy=axis) with an "
        f"array of {n_channels} energies in eV.{hint}"
    )


def _resolve_energy(energy, n_channels, source):
    """The ``energy=`` argument of :func:`read_spectra` as a checked axis in eV."""
    name = f"The energy passed for '{source}'"
    if isinstance(energy, tuple) and len(energy) == 2:
        try:
            offset, dispersion = float(energy[0]), float(energy[1])
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} is a tuple, read as (offset, dispersion) in eV, but its "
                f"values {energy!r} are not numbers; pass e.g. energy=(-4.0, 0.025)."
            ) from exc
        if not (np.isfinite(offset) and np.isfinite(dispersion) and dispersion > 0):
            raise ValueError(
                f"{name} is (offset, dispersion) = {energy!r}; both must be finite and "
                "the dispersion (eV per channel) positive, e.g. energy=(-4.0, 0.025)."
            )
        energy = offset + dispersion * np.arange(n_channels)
    elif _is_pair(energy) and n_channels != 2:
        raise ValueError(
            f"{name} has 2 values but the spectra have {n_channels} channels; to give "
            f"(offset, dispersion) in eV pass a tuple, energy=({energy[0]}, {energy[1]})."
        )
    return check_energy_axis(energy, n_channels, name=name)


def _is_pair(values):
    try:
        return np.ndim(values) == 1 and len(values) == 2
    except (TypeError, ValueError):  # ragged input: check_energy_axis explains
        return False


def _uniform_axis(energy):
    """(offset, scale) if ``energy`` is uniform to 1e-6 of a channel, else None."""
    scale = (energy[-1] - energy[0]) / (energy.size - 1)
    rebuilt = energy[0] + scale * np.arange(energy.size)
    if np.max(np.abs(rebuilt - energy)) <= 1e-6 * scale:
        return float(energy[0]), float(scale)
    return None


def _axis_values(axis, size):
    """The values of a RosettaSciIO/HyperSpy axis dict (uniform or not)."""
    if axis.get("axis") is not None:
        return np.asarray(axis["axis"], dtype=np.float64)
    offset = float(axis.get("offset", 0.0))
    scale = float(axis.get("scale", 1.0))
    return offset + scale * np.arange(size)


def _signal_axis_dict(energy):
    axis = {"name": "Energy loss", "units": "eV", "navigate": False}
    uniform = _uniform_axis(energy)
    if uniform is None:
        axis["axis"] = energy.copy()
    else:
        axis.update(size=energy.size, offset=uniform[0], scale=uniform[1])
    return axis


def _navigation_axis_dicts(shape):
    names = ("x", "y", "z")
    return [
        {
            "name": names[len(shape) - 1 - i] if len(shape) - 1 - i < 3 else f"axis_{i}",
            "size": int(n),
            "offset": 0.0,
            "scale": 1.0,
            "units": "",
            "navigate": True,
        }
        for i, n in enumerate(shape)
    ]
