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


# The finest dispersion of an EELS axis in eV that is read without a question:
# monochromated low-loss work uses 1 meV per channel and more. Finer "eV" axes
# are far more often keV (0.7 eV per channel and less; the coarsest zoo case,
# a 2.5 eV ZLP at 0.5 eV per channel, reads as 0.5 meV, with a ZLP of a
# plausible 2.5 meV). A real finer eV axis passes with energy_unit="eV".
_FINEST_DISPERSION = 7e-4
_UNIT_CHOICES = ("eV", "keV", "meV")


def check_energy_unit(energy_unit):
    """eV per unit of the ``energy_unit=`` argument (None stays None)."""
    if energy_unit is None:
        return None
    if energy_unit not in _UNIT_CHOICES:
        raise ValueError(
            f"energy_unit={energy_unit!r} is not one of {_UNIT_CHOICES}; give the unit "
            "of the file's energy axis, e.g. energy_unit='keV'."
        )
    return _ENERGY_UNITS[energy_unit]


def suspected_unit(energy, spectra):
    """("keV" or "meV", why) if an axis read as eV is likely in another unit, else None.

    Two signs, both absent from usual eV axes of EEL spectra: channels closer than
    0.7 meV (keV: 0.5 eV per channel reads as 0.5 meV), and a zero-loss peak at 0 eV
    whose width is outside 2 meV-10 eV (see
    :data:`sklearn_zlp._validation.ZLP_FWHM_RANGE`). Core-loss axes without a ZLP
    are judged by their dispersion only.
    """
    # Imported here: the readers need no peak finder until an axis is checked.
    from .._validation import ZLP_FWHM_RANGE
    from ..preprocessing._peak import fwhm_of_validated, zlp_peaks

    if energy.size < 2:
        return None
    dispersion = float(np.median(np.diff(energy)))
    if dispersion < _FINEST_DISPERSION:
        return "keV", (
            f"its channels are {dispersion:.3g} eV apart, finer than any EEL "
            f"spectrometer's {_FINEST_DISPERSION * 1e3:g} meV"
        )
    if not energy[0] <= 0 <= energy[-1] or energy.size < 5:
        return None
    mean = np.mean(spectra, axis=0, keepdims=True)
    peaks = zlp_peaks(mean)
    if peaks.status[0] != "ok" or abs(energy[peaks.channel[0]]) > 0.1 * (
        energy[-1] - energy[0]
    ):
        return None
    width = float(fwhm_of_validated(mean, energy, peaks)[0])
    low, high = ZLP_FWHM_RANGE
    if np.isfinite(width) and not low <= width <= high:
        return ("keV" if width < low else "meV"), (
            f"its zero-loss peak is {width:.3g} eV wide, and low-loss ZLPs are "
            f"{low:g}-{high:g} eV wide"
        )
    return None


def unit_error(where, unit, why):
    """The error for an axis without a stated unit that does not look like eV."""
    factor = "1000" if unit == "keV" else "0.001"
    return ValueError(
        f"{where} states no unit and is read as eV, but it looks like {unit}: {why}. "
        f"Pass read_spectra(path, energy_unit={unit!r}) to convert it (x {factor}), or "
        "energy_unit='eV' if it really is in eV."
    )
