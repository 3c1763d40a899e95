"""NumPy files: .npy (one array, no axis) and .npz (spectra, energy, metadata).

Pickles are never loaded: unpickling a file can run arbitrary code. A file that is
not a NumPy file, or holds Python objects, gets an error saying so, never advice
to load it unsafely.
"""

import os
import zipfile

import numpy as np

from .._validation import check_energy_axis
from ._axes import _no_energy_error, _resolve_energy
from ._checks import _spectra_from_array
from ._metadata import _QUANTITIES, _make_metadata, _to_float_or_none
from ._spectra_file import SpectraFile

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive, or an empty one
_NEVER_PICKLE = (
    "read_spectra never loads Python objects (unpickling a file can run arbitrary code)"
)


def _read_npy(source, energy):
    array = _load_npy(source)
    spectra, navigation_shape = _spectra_from_array(array, f"'{source}'", "The array")
    if energy is None:
        raise _no_energy_error(source, spectra.shape[1])
    energy = _resolve_energy(energy, spectra.shape[1], source)
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(source=source, fmt="npy", navigation_shape=navigation_shape),
    )


def _load_npy(source):
    """The array of a .npy file, after checking its signature, header and length."""
    fmt = np.lib.format
    with open(source, "rb") as f:
        start = f.read(len(_NPY_MAGIC))
        if start != _NPY_MAGIC:
            raise _not_npy_error(source, start)
        f.seek(0)
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = fmt.read_array_header_1_0(f)
            else:
                shape, fortran_order, dtype = fmt.read_array_header_2_0(f)
        except Exception as exc:  # numpy raises several types for damaged headers
            raise ValueError(
                f"'{source}' is not a valid .npy file: its header is damaged or cut "
                f"off ({_safe_message(exc)}); save the array again with numpy.save."
            ) from None
        if dtype.hasobject:
            raise ValueError(
                f"'{source}' holds Python objects (dtype {dtype}), not numbers; "
                f"{_NEVER_PICKLE}. Save the intensities as a numeric array, e.g. "
                "numpy.save(path, np.asarray(spectra, dtype=float))."
            )
        expected = int(np.prod(shape)) * dtype.itemsize
        available = os.fstat(f.fileno()).st_size - f.tell()
        if available < expected:
            raise ValueError(
                f"'{source}' is truncated: its header declares an array of shape "
                f"{shape} ({dtype}, {expected} bytes of data) but only {available} "
                "bytes follow; copy or save the file again."
            )
    try:
        return np.load(source, allow_pickle=False)
    except Exception as exc:  # anything the checks above did not foresee
        raise ValueError(
            f"Could not read '{source}' as a NumPy .npy file ({_safe_message(exc)}); "
            "check that it was written by numpy.save with a numeric array."
        ) from None


def _not_npy_error(source, start):
    if len(start) < len(_NPY_MAGIC) and _NPY_MAGIC.startswith(start):
        what = "it ends inside the NumPy signature (truncated); copy or save it again"
    elif start.startswith(_ZIP_MAGIC[0][:2]):
        what = "it is a zip archive, probably a .npz file; rename it to .npz"
    else:
        what = (
            "it does not start with the NumPy signature (\\x93NUMPY), so it is "
            f"another format or damaged; {_NEVER_PICKLE}"
        )
    return ValueError(f"'{source}' is not a valid .npy file: {what}.")


def _safe_message(exc):
    """``exc`` as text, unless it advises loading pickles (never passed on)."""
    text = f"{type(exc).__name__}: {exc}"
    return "details withheld" if "pickle" in text.lower() else text


def _read_npz(source, energy):
    contents = _load_npz(source)
    key = "spectra" if "spectra" in contents else "data" if "data" in contents else None
    if key is None:
        raise ValueError(
            f"'{source}' holds the arrays {sorted(contents)} but neither 'spectra' nor "
            "'data'; save the intensities under one of these names, e.g. "
            "np.savez(path, spectra=spectra, energy=energy)."
        )
    spectra, navigation_shape = _spectra_from_array(
        contents[key], f"'{source}'", f"The array '{key}'"
    )
    n_channels = spectra.shape[1]
    if energy is not None:
        energy = _resolve_energy(energy, n_channels, source)
    elif "energy" in contents:
        energy = check_energy_axis(
            contents["energy"], n_channels, name=f"The 'energy' array of '{source}'"
        )
    else:
        raise _no_energy_error(
            source,
            n_channels,
            " Or store it in the archive: np.savez(path, spectra=..., energy=...).",
        )
    quantities = {}
    for name in _QUANTITIES:
        if name in contents:
            value = contents[name]
            if np.ndim(value) != 0:
                raise ValueError(
                    f"'{source}': {name!r} should be a single number (a 0-d array), "
                    f"got shape {np.shape(value)}; store it as np.float64(value)."
                )
            quantities[name] = _to_float_or_none(value)
    known = {key, "energy", *_QUANTITIES}
    original = {k: v for k, v in contents.items() if k not in known}
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(
            source=source,
            fmt="npz",
            navigation_shape=navigation_shape,
            original_metadata=original,
            **quantities,
        ),
    )


def _load_npz(source):
    """Every array of a .npz archive, by name."""
    with open(source, "rb") as f:
        start = f.read(4)
    if start not in _ZIP_MAGIC:
        if start == _NPY_MAGIC[:4]:
            what = "it is a single-array .npy file; rename it to .npy"
        else:
            what = (
                "it does not start with the zip signature (PK) that every .npz "
                f"archive has, so it is another format or damaged; {_NEVER_PICKLE}"
            )
        raise ValueError(f"'{source}' is not a valid .npz archive: {what}.")
    name = None
    try:
        with np.load(source, allow_pickle=False) as archive:
            contents = {}
            for name in archive.files:
                contents[name] = archive[name]
    except zipfile.BadZipFile as exc:
        if name is None:  # the table of contents, at the end of the archive, is cut
            what = "its table of contents (at the end of every zip archive) is missing"
        else:
            what = f"the array {name!r} is damaged ({exc})"
        raise ValueError(
            f"'{source}' is not a complete .npz archive: {what}, so the file is "
            "truncated or damaged; copy or save it again."
        ) from None
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise ValueError(
                f"The array {name!r} in '{source}' holds Python objects, not numbers; "
                f"{_NEVER_PICKLE}. Save the archive again without it, or with numbers "
                "or strings in its place."
            ) from None
        raise ValueError(
            f"Could not read the array {name!r} in '{source}' ({_safe_message(exc)}); "
            "the archive is damaged or truncated: copy or save it again."
        ) from None
    except Exception as exc:  # zlib and numpy raise several types for damaged data
        raise ValueError(
            f"Could not read '{source}' as a NumPy .npz archive ({_safe_message(exc)}); "
            "the file is damaged or truncated: copy or save it again."
        ) from None
    return contents


def _write_npz(target, data, energy, md):
    extra = {key: np.float64(md[key]) for key in _QUANTITIES if md[key] is not None}
    with open(target, "wb") as f:  # a file object stops numpy appending ".npz"
        np.savez_compressed(f, spectra=data, energy=energy, **extra)
