"""Read and write EEL spectra: text, NumPy, MSA, Digital Micrograph, HyperSpy.

Every reader returns the same three things, a :class:`SpectraFile`
``(spectra, energy, metadata)``: the spectra as rows of a float64 array, the energy
axis in eV, and a plain dict with the acquisition parameters the zero-loss analysis
needs. Formats other than text and NumPy go through RosettaSciIO (``rsciio``), and
the HyperSpy bridge through HyperSpy; both are optional and imported only when used.
"""

import importlib
import importlib.util
import os
import re
import unicodedata
import warnings
from collections.abc import Mapping
from copy import deepcopy
from typing import NamedTuple

import numpy as np

from .._validation import check_energy_axis, check_spectra

__all__ = [
    "SpectraFile",
    "from_hyperspy",
    "read_spectra",
    "to_hyperspy",
    "write_spectra",
]

_TEXT_EXTENSIONS = (".txt", ".dat", ".csv", ".tsv")
# extension -> (RosettaSciIO plugin module, format name reported in metadata)
_RSCIIO_EXTENSIONS = {
    ".msa": ("msa", "msa"),
    ".ems": ("msa", "msa"),
    ".dm3": ("digitalmicrograph", "dm3"),
    ".dm4": ("digitalmicrograph", "dm4"),
    ".hspy": ("hspy", "hspy"),
    ".hdf5": ("hspy", "hspy"),
    ".emd": ("emd", "emd"),
    ".zspy": ("zspy", "zspy"),
}
_READ_EXTENSIONS = (*_TEXT_EXTENSIONS, ".npy", ".npz", *_RSCIIO_EXTENSIONS)
_WRITE_EXTENSIONS = (*_TEXT_EXTENSIONS, ".npz", ".msa", ".ems", ".hspy", ".hdf5")

_QUANTITIES = ("beam_energy", "exposure_time", "collection_angle", "convergence_angle")
# Where HyperSpy keeps them; units there: keV, s, mrad, mrad, as in this package.
_HYPERSPY_PATHS = {
    "beam_energy": "Acquisition_instrument.TEM.beam_energy",
    "exposure_time": "Acquisition_instrument.TEM.Detector.EELS.exposure",
    "collection_angle": "Acquisition_instrument.TEM.Detector.EELS.collection_angle",
    "convergence_angle": "Acquisition_instrument.TEM.convergence_angle",
}
_DWELL_TIME_PATH = "Acquisition_instrument.TEM.Detector.EELS.dwell_time"
# Keys of the ``# key: value`` comment lines that write_spectra puts in text files.
_TEXT_KEYS = {
    "beam_energy_keV": "beam_energy",
    "exposure_time_s": "exposure_time",
    "collection_angle_mrad": "collection_angle",
    "convergence_angle_mrad": "convergence_angle",
}
# Case matters: meV is milli, MeV mega.
_ENERGY_UNITS = {"eV": 1.0, "ev": 1.0, "EV": 1.0, "keV": 1e3, "kev": 1e3, "KEV": 1e3}
_ENERGY_UNITS.update({"meV": 1e-3, "MeV": 1e6})
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6}

_IO_HINT = 'pip install "sklearn-zlp[io]"'
_HYPERSPY_HINT = 'pip install "sklearn-zlp[hyperspy]"'


class SpectraFile(NamedTuple):
    """Spectra, their energy axis and their metadata, as read from a file.

    A named tuple, so ``spectra, energy, metadata = read_spectra(path)`` works.

    Attributes
    ----------
    spectra : ndarray of shape (n_spectra, n_channels)
        Intensities (float64), one spectrum per row; the navigation axes of a
        spectrum image are flattened in C order.
    energy : ndarray of shape (n_channels,)
        Strictly increasing energy loss of every channel in eV (float64).
    metadata : dict
        Always holds ``beam_energy`` (keV), ``exposure_time`` (s),
        ``collection_angle`` (mrad), ``convergence_angle`` (mrad), each a float or
        None if unknown; ``navigation_shape`` (tuple, ``()`` for one spectrum, so
        ``spectra.reshape(*navigation_shape, -1)`` restores a spectrum image);
        ``source`` (str), ``format`` (str) and ``original_metadata`` (dict, the
        file's own metadata, possibly empty).
    """

    spectra: np.ndarray
    energy: np.ndarray
    metadata: dict


# --------------------------------------------------------------------------- reading


def read_spectra(path, *, energy=None, layout="auto", signal_index=0):
    """Read EEL spectra, their energy axis and metadata from a file.

    Parameters
    ----------
    path : str or path-like
        File to read. The extension selects the format: ``.txt``, ``.dat``,
        ``.csv``, ``.tsv`` (text), ``.npy``, ``.npz`` (NumPy), ``.msa``/``.ems``
        (EMSA/MSA), ``.dm3``/``.dm4`` (Gatan Digital Micrograph), ``.hspy``/
        ``.hdf5`` (HyperSpy), ``.emd`` (NCEM/Velox EMD) and ``.zspy`` (HyperSpy
        zarr). The last six need RosettaSciIO (``pip install "sklearn-zlp[io]"``).
    energy : array-like of shape (n_channels,) or tuple of (float, float), \
            default=None
        Energy axis in eV, for files that have none (text in rows layout,
        ``.npy``), or to override the file's axis. Either the energy of every
        channel, or a tuple ``(offset, dispersion)`` meaning channel ``i`` lies at
        ``offset + dispersion * i`` eV.
    layout : {"auto", "rows", "columns"}, default="auto"
        Text files only. ``"rows"``: every line is one spectrum and the file holds
        no energy axis. ``"columns"``: the first column is the energy axis and every
        further column one spectrum (the usual spreadsheet or Gatan text export).
        ``"auto"`` takes a ``# layout: ...`` comment line if there is one (files
        written by :func:`write_spectra` have it), else ``"columns"`` if there are
        at least two columns, more lines than columns and a strictly increasing
        first column, else ``"rows"``. A single column is always one spectrum,
        one value per line.
    signal_index : int, default=0
        Which signal to take from a file that holds several (Digital Micrograph,
        EMD, HyperSpy files).

    Returns
    -------
    spectra : ndarray of shape (n_spectra, n_channels)
        Intensities as float64, one spectrum per row, navigation axes flattened.
    energy : ndarray of shape (n_channels,)
        Energy loss of every channel in eV, strictly increasing (keV and meV axes
        are converted).
    metadata : dict
        ``beam_energy`` (keV), ``exposure_time`` (s), ``collection_angle`` (mrad),
        ``convergence_angle`` (mrad), each None if the file does not say;
        ``navigation_shape``, ``source``, ``format`` and ``original_metadata``. See
        :class:`SpectraFile`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the extension is unknown, the content cannot be parsed, the data hold
        NaN or infinite values, or the energy axis is missing or invalid.
    ImportError
        If the format needs RosettaSciIO and it is not installed.

    See Also
    --------
    write_spectra : Write spectra in a form this function reads back.
    from_hyperspy : The same result from a HyperSpy signal in memory.

    Notes
    -----
    Text files may be separated by whitespace, commas, tabs or semicolons (with a
    decimal comma then allowed), may hold ``#`` comment lines and one non-numeric
    header line. A first header column naming keV or meV (e.g. ``energy_keV``)
    converts the axis to eV. Comment lines ``# beam_energy_keV: 200``,
    ``# exposure_time_s: ...``, ``# collection_angle_mrad: ...``,
    ``# convergence_angle_mrad: ...`` and ``# navigation_shape: (ny, nx)`` fill the
    metadata.

    The MSA standard gives ``INTEGTIME`` and ``DWELLTIME`` in ms; they are
    converted to ``exposure_time`` in s.

    Digital Micrograph spectrum images are read like HyperSpy does: navigation
    axes of length 1 are dropped, and the energy axis is the one calibrated in eV.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_zlp.io import read_spectra, write_spectra
    >>> energy = np.linspace(-1.0, 4.0, 6)
    >>> path = os.path.join(tempfile.mkdtemp(), "spectra.csv")
    >>> path = write_spectra(path, [[1.0, 9.0, 3.0, 2.0, 1.5, 1.0]], energy,
    ...                      {"beam_energy": 200.0})
    >>> spectra, energy, metadata = read_spectra(path)
    >>> spectra.shape, energy[:3].tolist(), metadata["beam_energy"]
    ((1, 6), [-1.0, 0.0, 1.0], 200.0)

    A file of bare intensities, one spectrum per line, needs its axis:

    >>> np.savetxt(os.path.join(os.path.dirname(path), "rows.txt"), [[1.0, 9.0, 3.0]])
    >>> spectra, energy, _ = read_spectra(os.path.join(os.path.dirname(path), "rows.txt"),
    ...                                   energy=(-0.5, 0.5))
    >>> energy
    array([-0.5,  0. ,  0.5])
    """
    source = os.fspath(path)
    if layout not in ("auto", "rows", "columns"):
        raise ValueError(
            f"layout={layout!r} is not supported; use 'auto', 'rows' (one spectrum "
            "per line, no energy axis) or 'columns' (energy in the first column)."
        )
    ext = _extension(source)
    if ext not in _READ_EXTENSIONS:
        raise ValueError(
            f"Cannot read '{source}': unknown extension {ext or '(none)'!r}. "
            f"Supported extensions: {', '.join(_READ_EXTENSIONS)}. Rename the file if "
            "it holds one of these formats, or load it yourself and pass the arrays on."
        )
    if not os.path.exists(source):
        raise FileNotFoundError(
            f"No such file: '{source}' (working directory: '{os.getcwd()}'); check "
            "the path and its spelling."
        )
    if ext in _TEXT_EXTENSIONS:
        return _read_text(source, energy, layout)
    if ext == ".npy":
        return _read_npy(source, energy)
    if ext == ".npz":
        return _read_npz(source, energy)
    plugin, fmt = _RSCIIO_EXTENSIONS[ext]
    return _read_rsciio(source, plugin, fmt, energy, signal_index)


def _extension(source):
    return os.path.splitext(source.rstrip("/\\"))[1].lower()


def _read_text(source, energy, layout):
    try:
        with open(source, encoding="utf-8-sig", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ValueError(f"Could not read text file '{source}': {exc}") from exc
    comments, content = [], []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
        else:
            content.append((lineno, line))
    header = None
    if content:
        first = content[0][1]
        first_sep = _detect_separator(first)
        try:
            _parse_fields(_split(first, first_sep), first_sep)
        except ValueError:
            header = _split(first, first_sep)
            content = content[1:]
    if not content:
        raise ValueError(
            f"'{source}' holds no numeric data lines; expected intensities (one "
            "spectrum per line) or columns of energy and intensities."
        )
    sep = _detect_separator(content[0][1])
    rows = []
    for lineno, line in content:
        fields = _split(line, sep)
        try:
            values = _parse_fields(fields, sep)
        except ValueError as exc:
            raise ValueError(
                f"Could not read '{source}': line {lineno} is not numeric ({exc}). "
                "Only '#' comment lines and one header line before the data may hold "
                "text; remove the offending line or comment it out with '#'."
            ) from exc
        if rows and len(values) != len(rows[0]):
            raise ValueError(
                f"Could not read '{source}': line {lineno} has {len(values)} values "
                f"but line {content[0][0]} has {len(rows[0])}; every line must hold "
                "the same number of values (ragged rows: a truncated or merged file?)."
            )
        rows.append(values)
    table = np.array(rows, dtype=np.float64)
    info = _parse_comments(comments, source)

    n_rows, n_cols = table.shape
    looks_like_columns = n_cols >= 2 and n_rows > n_cols
    guessed = layout == "auto" and info["layout"] is None
    if layout == "auto":
        if info["layout"] is not None:
            layout = info["layout"]
        elif looks_like_columns and np.all(np.diff(table[:, 0]) > 0):
            layout = "columns"
        else:
            layout = "rows"

    if layout == "columns":
        if n_cols < 2:
            raise ValueError(
                f"'{source}' has a single column, but layout='columns' needs the energy "
                "in the first column and one spectrum in each further column; use "
                "layout='rows' and pass energy=..., or check the separator."
            )
        spectra = np.ascontiguousarray(table[:, 1:].T)
        _check_finite(spectra, f"'{source}'")
        if energy is None:
            energy = check_energy_axis(
                table[:, 0] * _header_energy_factor(header),
                name=f"The energy axis (first column) of '{source}'",
            )
        else:
            energy = _resolve_energy(energy, spectra.shape[1], source)
    else:
        # A single column is one spectrum written one value per line.
        spectra = table.T.copy() if n_cols == 1 else table
        _check_finite(spectra, f"'{source}'")
        if energy is None:
            hint = ""
            if looks_like_columns and guessed:
                hint = (
                    f" It has {n_rows} lines of {n_cols} values, like energy and "
                    "spectra in columns, but its first column is not strictly "
                    "increasing, so it was read as one spectrum per line; if the "
                    "first column is the energy axis, pass layout='columns' to see "
                    "what is wrong with it."
                )
            raise _no_energy_error(source, spectra.shape[1], hint)
        energy = _resolve_energy(energy, spectra.shape[1], source)

    navigation_shape = _navigation_shape(info["navigation_shape"], spectra.shape[0], source)
    original = {}
    if comments:
        original["comments"] = comments
    if header is not None:
        original["column_names"] = header
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(
            source=source,
            fmt="text",
            navigation_shape=navigation_shape,
            original_metadata=original,
            **info["quantities"],
        ),
    )


def _detect_separator(line):
    for sep in (";", "\t", ","):
        if sep in line:
            return sep
    return None


def _split(line, sep):
    if sep is None:
        return line.split()
    fields = [field.strip() for field in line.split(sep)]
    if len(fields) > 1 and fields[-1] == "":
        fields = fields[:-1]  # a trailing separator, as many exporters write
    return fields


def _parse_fields(fields, sep):
    values = []
    for field in fields:
        try:
            values.append(float(field))
        except ValueError:
            if sep == ";" and "," in field:
                # semicolon-separated files from European locales use decimal commas
                try:
                    values.append(float(field.replace(",", ".")))
                    continue
                except ValueError:
                    pass
            raise ValueError(f"could not convert {field!r} to a number") from None
    return values


def _header_energy_factor(header):
    if not header:
        return 1.0
    match = re.search(r"(?<![A-Za-z])(keV|meV|eV)(?![A-Za-z])", header[0])
    return _ENERGY_UNITS[match.group(1)] if match else 1.0


def _parse_comments(comments, source):
    info = {"quantities": {}, "navigation_shape": None, "layout": None}
    for comment in comments:
        match = re.fullmatch(r"([A-Za-z_]+)\s*[:=]\s*(.*)", comment)
        if match is None:
            continue
        key, value = match.group(1), match.group(2).strip()
        if key in _TEXT_KEYS:
            number = _to_float_or_none(value)
            if number is None and value.lower() not in ("", "none", "nan"):
                raise ValueError(
                    f"Could not read '{source}': comment line '# {comment}' should "
                    f"hold a number, got {value!r}; fix or remove that line."
                )
            info["quantities"][_TEXT_KEYS[key]] = number
        elif key == "navigation_shape":
            if not re.fullmatch(r"\(?\s*(\d+\s*(,\s*\d+\s*)*,?\s*)?\)?", value):
                raise ValueError(
                    f"Could not read '{source}': comment line '# {comment}' should "
                    "hold a tuple of integers such as (2, 3); fix or remove that line."
                )
            info["navigation_shape"] = tuple(int(v) for v in re.findall(r"\d+", value))
        elif key == "layout" and value in ("rows", "columns"):
            info["layout"] = value
    return info


def _navigation_shape(declared, n_spectra, source):
    if declared is None:
        return () if n_spectra == 1 else (n_spectra,)
    if int(np.prod(declared)) != n_spectra:
        raise ValueError(
            f"'{source}' declares navigation_shape {declared}, which holds "
            f"{int(np.prod(declared))} spectra, but the file has {n_spectra}; fix or "
            "remove the '# navigation_shape' line."
        )
    return tuple(declared)


def _read_npy(source, energy):
    try:
        array = np.load(source, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for damaged files
        raise ValueError(
            f"Could not read '{source}' as a NumPy .npy file: {exc}. Check that the "
            "file is complete and was written by numpy.save with a numeric array."
        ) from exc
    spectra, navigation_shape = _spectra_from_array(array, f"'{source}'", "The array")
    if energy is None:
        raise _no_energy_error(source, spectra.shape[1])
    energy = _resolve_energy(energy, spectra.shape[1], source)
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(source=source, fmt="npy", navigation_shape=navigation_shape),
    )


def _read_npz(source, energy):
    try:
        with np.load(source, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except Exception as exc:  # numpy raises several types for damaged files
        raise ValueError(
            f"Could not read '{source}' as a NumPy .npz archive: {exc}. Check that "
            "the file is complete and was written by numpy.savez with numeric arrays."
        ) from exc
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
            number = _to_float_or_none(value) if np.ndim(value) == 0 else None
            if number is None and np.ndim(value) != 0:
                raise ValueError(
                    f"'{source}': {name!r} should be a single number (a 0-d array), "
                    f"got shape {np.shape(value)}; store it as np.float64(value)."
                )
            quantities[name] = number
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


def _spectra_from_array(array, label, what):
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{what} in {label} has dtype {array.dtype}; expected real numbers "
            "(intensities). Convert it, e.g. np.abs(a) for complex data."
        )
    if array.ndim == 0:
        raise ValueError(
            f"{what} in {label} is a single number; expected a spectrum (1-D) or "
            "spectra with channels on the last axis."
        )
    if array.size == 0:
        raise ValueError(f"{what} in {label} is empty (shape {array.shape}).")
    spectra = np.array(array, dtype=np.float64).reshape(-1, array.shape[-1])
    _check_finite(spectra, label)
    return spectra, tuple(int(n) for n in array.shape[:-1])


def _no_energy_error(source, n_channels, hint=""):
    return ValueError(
        f"'{source}' holds spectra of {n_channels} channels but no energy axis, so "
        "pass one: read_spectra(path, energy=(offset, dispersion)) puts channel i at "
        f"offset + dispersion * i eV, or read_spectra(path, energy=axis) with an "
        f"array of {n_channels} energies in eV.{hint}"
    )


def _resolve_energy(energy, n_channels, source):
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


def _check_finite(spectra, label):
    bad = ~np.isfinite(spectra)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{label} contains {int(bad.sum())} NaN or infinite intensities (first "
            f"in spectrum {row}, channel {col}); clean or interpolate them in the "
            "file, or load it yourself (e.g. numpy.genfromtxt) and replace them "
            "before use."
        )


def _read_rsciio(source, plugin, fmt, energy, signal_index):
    module = _import_rsciio(plugin, fmt)
    try:
        signals = module.file_reader(source)
    except ImportError:  # an optional codec of the format: the message says which
        raise
    except Exception as exc:  # readers raise many types for damaged files
        raise ValueError(
            f"Could not read '{source}' as a {fmt} file ({type(exc).__name__}: {exc}). "
            "Check that the file is complete (not truncated by a copy or transfer) "
            "and really is in this format."
        ) from exc
    if not isinstance(signal_index, int | np.integer) or not (
        -len(signals) <= signal_index < len(signals)
    ):
        raise ValueError(
            f"signal_index={signal_index!r} is out of range: '{source}' holds "
            f"{len(signals)} signal(s); pass an integer from 0 to {len(signals) - 1}."
        )
    signal = signals[signal_index]
    data = signal["data"]
    if hasattr(data, "compute"):
        data = data.compute()
    data = np.asarray(data)
    where = f"signal {signal_index} of '{source}'"
    if data.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} has data of type {data.dtype}, not real intensities; it is not "
            "an EEL spectrum (pick another one with signal_index)."
        )
    axes = sorted(
        enumerate(signal["axes"]), key=lambda pair: pair[1].get("index_in_array", pair[0])
    )
    axes = [axis for _, axis in axes]
    if len(axes) != data.ndim:
        raise ValueError(
            f"{where} has {data.ndim}-D data but {len(axes)} axes in its metadata; "
            "the file is inconsistent."
        )
    signal_axis = _find_signal_axis(axes, where, len(signals))
    data = np.moveaxis(data, signal_axis, -1)
    axes = [a for i, a in enumerate(axes) if i != signal_axis] + [axes[signal_axis]]
    if fmt in ("dm3", "dm4"):
        # HyperSpy squeezes Digital Micrograph data: a single spectrum is often
        # stored as a 1 x n image.
        data = data.reshape([n for n in data.shape[:-1] if n != 1] + [data.shape[-1]])
    spectra, navigation_shape = _spectra_from_array(data, where, "The data")

    n_channels = spectra.shape[1]
    if energy is not None:
        energy = _resolve_energy(energy, n_channels, source)
    else:
        energy = _axis_values(axes[-1], n_channels)
        energy = check_energy_axis(
            energy * _energy_factor(axes[-1].get("units"), where, stacklevel=4),
            n_channels,
            name=f"The energy axis of {where}",
        )

    metadata = deepcopy(dict(signal.get("metadata") or {}))
    original = signal.get("original_metadata") or {}
    if "mapping" in signal:
        _apply_mapping(metadata, original, signal["mapping"])
    quantities = _quantities_from_hyperspy_tree(metadata)
    if plugin == "msa":
        quantities["exposure_time"] = _msa_exposure(original)
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(
            source=source,
            fmt=fmt,
            navigation_shape=navigation_shape,
            original_metadata=dict(original),
            **quantities,
        ),
    )


def _import_rsciio(plugin, fmt):
    try:
        importlib.import_module("rsciio")
    except ImportError as exc:
        raise ImportError(
            f"Reading and writing {fmt} files needs RosettaSciIO, which is not "
            f"installed; install it with: {_IO_HINT}"
        ) from exc
    try:
        return importlib.import_module(f"rsciio.{plugin}")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "a dependency"
        raise ImportError(
            f"RosettaSciIO's {plugin} plugin, needed for {fmt} files, cannot be "
            f"imported ({exc}); install the missing package, e.g. pip install {missing}."
        ) from exc


def _find_signal_axis(axes, where, n_signals):
    candidates = [i for i, axis in enumerate(axes) if not axis.get("navigate", False)]
    if len(candidates) == 1:
        return candidates[0]
    # Digital Micrograph spectrum images arrive as image stacks that HyperSpy turns
    # into spectra afterwards; their energy axis is the one calibrated in eV.
    energy_like = [
        i for i, axis in enumerate(axes) if str(axis.get("units", "")) in _ENERGY_UNITS
    ]
    if len(energy_like) == 1:
        return energy_like[0]
    shape = tuple(int(axis["size"]) for axis in axes)
    other = (
        f" The file holds {n_signals} signals; pick another with signal_index."
        if n_signals > 1
        else ""
    )
    raise ValueError(
        f"{where} is not a set of 1-D spectra: it has {len(candidates)} signal axes "
        f"(data shape {shape}, e.g. an image), and no single axis in eV to take as the "
        f"energy axis.{other}"
    )


def _axis_values(axis, size):
    if axis.get("axis") is not None:
        return np.asarray(axis["axis"], dtype=np.float64)
    offset = float(axis.get("offset", 0.0))
    scale = float(axis.get("scale", 1.0))
    return offset + scale * np.arange(size)


def _energy_factor(units, where, stacklevel):
    units = "" if units is None else str(units).strip()
    if units in _ENERGY_UNITS:
        return _ENERGY_UNITS[units]
    warnings.warn(
        f"The energy axis of {where} has units {units or '(none)'!r}, not eV; its "
        "values are taken as eV. Pass energy=... to read_spectra to set the axis.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 1.0


def _slugify(key):
    # HyperSpy's slugify: how its metadata browser names keys, which RosettaSciIO's
    # metadata mappings assume.
    value = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode()
    value = re.sub(r"[^0-9A-Za-z_ ]", "", value).strip().replace(" ", "_")
    return value if value.isidentifier() else "Number_" + value


def _slugified(tree):
    if isinstance(tree, Mapping):
        return {_slugify(key): _slugified(value) for key, value in tree.items()}
    return tree


def _get_path(tree, path, slug=False):
    node = tree
    for key in path.split("."):
        key = _slugify(key) if slug else key
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _set_path(tree, path, value):
    *parents, last = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return
    node[last] = value


def _apply_mapping(metadata, original, mapping):
    # What HyperSpy does on loading: copy original tags to standard metadata paths.
    tree = _slugified(original)
    for source_path, (target_path, function) in mapping.items():
        value = _get_path(tree, source_path, slug=True)
        if value is None:
            continue
        if function is not None:
            try:
                value = function(value)
            except Exception:  # a tag the reader itself cannot parse: skip it
                continue
        if value is not None:
            _set_path(metadata, target_path, value)


def _to_float_or_none(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _quantities_from_hyperspy_tree(tree, getter=None):
    getter = getter or (lambda path: _get_path(tree, path))
    quantities = {
        name: _to_float_or_none(getter(path)) for name, path in _HYPERSPY_PATHS.items()
    }
    if quantities["exposure_time"] is None:
        quantities["exposure_time"] = _to_float_or_none(getter(_DWELL_TIME_PATH))
    return quantities


def _msa_exposure(original):
    for keyword in ("INTEGTIME", "DWELLTIME"):
        for key, value in original.items():
            name, _, units = str(key).partition("-")
            if name.strip() != keyword:
                continue
            number = _to_float_or_none(value)
            factor = _TIME_UNITS.get(units.strip() or "ms")
            if number is not None and factor is not None:
                return number * factor
    return None


def _make_metadata(
    *,
    source,
    fmt,
    navigation_shape,
    original_metadata=None,
    beam_energy=None,
    exposure_time=None,
    collection_angle=None,
    convergence_angle=None,
):
    return {
        "beam_energy": beam_energy,
        "exposure_time": exposure_time,
        "collection_angle": collection_angle,
        "convergence_angle": convergence_angle,
        "navigation_shape": tuple(int(n) for n in navigation_shape),
        "source": source,
        "format": fmt,
        "original_metadata": dict(original_metadata or {}),
    }


# --------------------------------------------------------------------------- writing


def write_spectra(path, spectra, energy, metadata=None):
    """Write EEL spectra with their energy axis and metadata to a file.

    The file reads back with :func:`read_spectra` to the same spectra, energy axis,
    acquisition parameters and navigation shape.

    Parameters
    ----------
    path : str or path-like
        File to write (overwritten if it exists). The extension selects the
        format: ``.csv`` (comma-separated), ``.txt``, ``.dat``, ``.tsv``
        (tab-separated), all with the energy in the first column and one spectrum
        per further column, 17 significant digits, so lossless; ``.npz``
        (NumPy archive, lossless); ``.msa``/``.ems`` (EMSA/MSA, one spectrum on a
        uniform axis) and ``.hspy``/``.hdf5`` (HyperSpy), both through
        RosettaSciIO (``pip install "sklearn-zlp[io]"``).
    spectra : array-like of shape (n_channels,), (n_spectra, n_channels) or \
            (..., n_channels)
        Intensities; a spectrum image may keep its navigation axes.
    energy : array-like of shape (n_channels,)
        Strictly increasing energy loss of every channel in eV.
    metadata : dict, default=None
        Optional ``beam_energy`` (keV), ``exposure_time`` (s),
        ``collection_angle`` (mrad), ``convergence_angle`` (mrad) and
        ``navigation_shape`` (tuple; default: the leading axes of ``spectra``), as
        returned by :func:`read_spectra`. ``.hspy`` also stores
        ``original_metadata``; other keys are ignored.

    Returns
    -------
    path : str or path-like
        ``path``, as given.

    Raises
    ------
    ValueError
        If the extension cannot be written, the inputs are invalid, or the format
        cannot hold them (several spectra or a non-uniform axis in MSA).

    See Also
    --------
    read_spectra : Read the file back.
    to_hyperspy : The same content as a HyperSpy signal in memory.

    Notes
    -----
    MSA stores the intensities with 6 decimals (RosettaSciIO's writer), so they
    read back to within 1e-6 counts, and the axis as ``OFFSET`` and ``XPERCHAN``;
    the exposure time goes to ``INTEGTIME`` in ms, as the standard defines it.
    Digital Micrograph files cannot be written (no open writer exists); use
    ``.hspy`` to keep everything for HyperSpy or Gatan's import.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_zlp.io import read_spectra, write_spectra
    >>> energy = np.arange(5) * 0.5 - 1.0
    >>> image = np.ones((2, 3, 5))
    >>> path = write_spectra(os.path.join(tempfile.mkdtemp(), "image.npz"), image,
    ...                      energy, {"beam_energy": 60.0, "exposure_time": 0.01})
    >>> spectra, energy, metadata = read_spectra(path)
    >>> spectra.shape, metadata["navigation_shape"], metadata["exposure_time"]
    ((6, 5), (2, 3), 0.01)
    """
    target = os.fspath(path)
    ext = _extension(target)
    if ext not in _WRITE_EXTENSIONS:
        extra = ""
        if ext in (".dm3", ".dm4"):
            extra = " Digital Micrograph files cannot be written; .hspy keeps all."
        elif ext == ".npy":
            extra = " A .npy file cannot hold the energy axis; use .npz."
        raise ValueError(
            f"Cannot write '{target}': extension {ext or '(none)'!r} is not supported "
            f"for writing. Use one of {', '.join(_WRITE_EXTENSIONS)}.{extra}"
        )
    data, flat, energy, md = _prepare_output(spectra, energy, metadata)
    if ext in _TEXT_EXTENSIONS:
        _write_text(target, flat, energy, md, "," if ext == ".csv" else "\t")
    elif ext == ".npz":
        _write_npz(target, data, energy, md)
    elif ext in (".msa", ".ems"):
        _write_msa(target, flat, energy, md)
    else:
        _write_hspy(target, data, energy, md)
    return path


def _prepare_output(spectra, energy, metadata, name="spectra"):
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise ValueError(
            f"metadata must be a dict (e.g. the one read_spectra returns) or None, "
            f"got {type(metadata).__name__}."
        )
    data = check_spectra(spectra, name=name, allow_nd=True)
    n_channels = data.shape[-1]
    flat = data.reshape(-1, n_channels)
    energy = check_energy_axis(energy, n_channels, name="energy")
    shape = metadata.get("navigation_shape")
    if shape is None:
        shape = data.shape[:-1] if data.ndim != 2 or flat.shape[0] > 1 else ()
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"metadata['navigation_shape'] must be a tuple of integers such as (2, 3), "
            f"got {shape!r}."
        ) from exc
    if int(np.prod(shape)) != flat.shape[0]:
        raise ValueError(
            f"metadata['navigation_shape'] = {shape} holds {int(np.prod(shape))} "
            f"spectra but {name} has {flat.shape[0]}; pass the matching shape or "
            "leave it out."
        )
    md = {"navigation_shape": shape}
    for key in _QUANTITIES:
        value = metadata.get(key)
        if value is not None:
            number = _to_float_or_none(value)
            if number is None:
                raise ValueError(
                    f"metadata[{key!r}] must be a finite number or None, got {value!r}."
                )
            value = number
        md[key] = value
    md["source"] = metadata.get("source") or ""
    md["original_metadata"] = dict(metadata.get("original_metadata") or {})
    return flat.reshape(*shape, n_channels), flat, energy, md


def _write_text(target, flat, energy, md, sep):
    lines = [
        "# EEL spectra written by sklearn-zlp: energy loss (eV) in the first column,",
        "# one spectrum per further column.",
        "# layout: columns",
        f"# navigation_shape: {md['navigation_shape']}",
    ]
    for key, name in _TEXT_KEYS.items():
        if md[name] is not None:
            lines.append(f"# {key}: {md[name]!r}")
    names = ["energy_eV"] + [f"spectrum_{i}" for i in range(flat.shape[0])]
    lines.append(sep.join(names))
    table = np.column_stack([energy, flat.T])
    with open(target, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
        np.savetxt(f, table, fmt="%.17g", delimiter=sep)


def _write_npz(target, data, energy, md):
    extra = {key: np.float64(md[key]) for key in _QUANTITIES if md[key] is not None}
    with open(target, "wb") as f:  # a file object stops numpy appending ".npz"
        np.savez_compressed(f, spectra=data, energy=energy, **extra)


def _hyperspy_metadata(md, exposure_factor=1.0):
    tree = {"General": {"title": ""}, "Signal": {"signal_type": "EELS"}}
    for key, path in _HYPERSPY_PATHS.items():
        if md[key] is not None:
            factor = exposure_factor if key == "exposure_time" else 1.0
            _set_path(tree, path, md[key] * factor)
    return tree


def _uniform_axis(energy):
    """(offset, scale) if ``energy`` is uniform to 1e-6 of a channel, else None."""
    scale = (energy[-1] - energy[0]) / (energy.size - 1)
    rebuilt = energy[0] + scale * np.arange(energy.size)
    if np.max(np.abs(rebuilt - energy)) <= 1e-6 * scale:
        return float(energy[0]), float(scale)
    return None


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


def _write_msa(target, flat, energy, md):
    if flat.shape[0] != 1:
        raise ValueError(
            f"An MSA file holds one spectrum, got {flat.shape[0]}; write one file per "
            "spectrum (for i, s in enumerate(spectra): write_spectra(f'spectrum_{i}"
            ".msa', s, energy)), or use .hspy, .npz or .csv for all of them."
        )
    uniform = _uniform_axis(energy)
    if uniform is None:
        steps = np.diff(energy)
        raise ValueError(
            "An MSA file stores a uniform energy axis (offset + dispersion * i), but "
            f"these channel steps range from {steps.min():.6g} to {steps.max():.6g} eV; "
            "resample onto a uniform axis first, or use .hspy, .npz or .csv."
        )
    module = _import_rsciio("msa", "msa")
    signal = {
        "data": flat[0].copy(),
        "axes": [
            {
                "name": "Energy loss",
                "size": energy.size,
                "offset": uniform[0],
                "scale": uniform[1],
                "units": "eV",
                "navigate": False,
            }
        ],
        # MSA gives INTEGTIME in ms.
        "metadata": _hyperspy_metadata(md, exposure_factor=1e3),
        "original_metadata": {},
    }
    module.file_writer(target, signal)


def _write_hspy(target, data, energy, md):
    module = _import_rsciio("hspy", "hspy")
    signal = {
        "data": data,
        "axes": _navigation_axis_dicts(data.shape[:-1]) + [_signal_axis_dict(energy)],
        "metadata": _hyperspy_metadata(md),
        "original_metadata": deepcopy(md["original_metadata"]),
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"package": "", "package_version": ""},
    }
    module.file_writer(target, signal, show_progressbar=False)


# ------------------------------------------------------------------------- HyperSpy


def _import_hyperspy():
    try:
        return importlib.import_module("hyperspy.api")
    except ImportError as exc:
        raise ImportError(
            f"This needs HyperSpy, which is not installed; install it with: "
            f"{_HYPERSPY_HINT}"
        ) from exc


def from_hyperspy(signal):
    """Take the spectra, energy axis and metadata out of a HyperSpy signal.

    Parameters
    ----------
    signal : hyperspy.signals.Signal1D
        A spectrum or spectrum image (any navigation dimensions), possibly lazy
        (it is computed) and possibly an ``EELSSpectrum`` from eXSpy.

    Returns
    -------
    spectra : ndarray of shape (n_spectra, n_channels)
        Intensities as float64, one spectrum per row, navigation axes flattened
        in the order of ``signal.data``.
    energy : ndarray of shape (n_channels,)
        Energy loss of every channel in eV (keV and meV axes converted).
    metadata : dict
        As from :func:`read_spectra`, with ``format="hyperspy"``, ``source`` the
        signal's title, ``navigation_shape`` equal to ``signal.data.shape[:-1]``
        and the acquisition parameters from the standard HyperSpy metadata paths.

    Raises
    ------
    TypeError
        If ``signal`` is not a HyperSpy signal.
    ValueError
        If the signal is not 1-D (e.g. an image), holds complex, NaN or infinite
        values, or has an invalid energy axis.

    See Also
    --------
    to_hyperspy : The reverse.
    read_spectra : The same result from a file.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspy.api as hs
    >>> from sklearn_zlp.io import from_hyperspy
    >>> signal = hs.signals.Signal1D(np.ones((2, 4)))
    >>> signal.axes_manager.signal_axes[0].units = "eV"
    >>> signal.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    >>> spectra, energy, metadata = from_hyperspy(signal)
    >>> spectra.shape, metadata["navigation_shape"], metadata["beam_energy"]
    ((2, 4), (2,), 300.0)
    """
    _import_hyperspy()
    from hyperspy.signal import BaseSignal

    if not isinstance(signal, BaseSignal):
        raise TypeError(
            f"from_hyperspy expects a HyperSpy signal, got {type(signal).__name__}; "
            "for arrays use them directly, for files use read_spectra."
        )
    title = str(signal.metadata.get_item("General.title", "") or "")
    where = f"signal '{title}'" if title else "the signal"
    axes_manager = signal.axes_manager
    if axes_manager.signal_dimension != 1:
        raise ValueError(
            f"{where} has {axes_manager.signal_dimension} signal dimensions "
            f"(shape {signal.data.shape}, e.g. an image), but spectra need exactly 1; "
            "make the energy axis the only signal axis first, e.g. "
            "signal.as_signal1D(spectral_axis=...) or signal.transpose(signal_axes=[...])."
        )
    data = signal.data
    if hasattr(data, "compute"):  # lazy signal
        data = data.compute()
    data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} has data of type {data.dtype}, not real intensities; convert "
            "it first, e.g. signal.real or abs(signal)."
        )
    axis = axes_manager.signal_axes[0]
    data = np.moveaxis(data, axis.index_in_array, -1)
    spectra, navigation_shape = _spectra_from_array(data, where, "The data")
    energy = np.asarray(axis.axis, dtype=np.float64) * _energy_factor(
        getattr(axis, "units", ""), where, stacklevel=3
    )
    energy = check_energy_axis(energy, spectra.shape[1], name=f"The energy axis of {where}")
    quantities = _quantities_from_hyperspy_tree(
        None, getter=lambda path: signal.metadata.get_item(path, None)
    )
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(
            source=title,
            fmt="hyperspy",
            navigation_shape=navigation_shape,
            original_metadata=signal.original_metadata.as_dictionary(),
            **quantities,
        ),
    )


def to_hyperspy(spectra, energy, metadata=None):
    """Make a HyperSpy signal from spectra, their energy axis and metadata.

    Parameters
    ----------
    spectra : array-like of shape (n_channels,), (n_spectra, n_channels) or \
            (..., n_channels)
        Intensities; reshaped to ``metadata["navigation_shape"]`` if given.
    energy : array-like of shape (n_channels,)
        Strictly increasing energy loss of every channel in eV. A uniform axis
        becomes an offset and scale, any other a non-uniform HyperSpy axis.
    metadata : dict, default=None
        As returned by :func:`read_spectra`: ``beam_energy`` (keV),
        ``exposure_time`` (s), ``collection_angle`` and ``convergence_angle``
        (mrad) go to HyperSpy's standard ``Acquisition_instrument.TEM`` paths,
        ``source`` to the title, ``original_metadata`` to
        ``signal.original_metadata``.

    Returns
    -------
    signal : hyperspy.signals.Signal1D
        A new signal (its data a copy) with the energy axis named "Energy loss" in
        eV; an ``EELSSpectrum`` (signal type "EELS") if eXSpy is installed.

    Raises
    ------
    ValueError
        If the inputs are invalid.

    See Also
    --------
    from_hyperspy : The reverse.
    write_spectra : Write the same content to a file.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.io import to_hyperspy
    >>> signal = to_hyperspy(np.ones((6, 5)), np.linspace(-1.0, 1.0, 5),
    ...                      {"navigation_shape": (2, 3), "beam_energy": 200.0})
    >>> signal.data.shape, float(signal.axes_manager.signal_axes[0].scale)
    ((2, 3, 5), 0.5)
    >>> signal.metadata.Acquisition_instrument.TEM.beam_energy
    200.0
    """
    hs = _import_hyperspy()
    data, _, energy, md = _prepare_output(spectra, energy, metadata)
    axes = _navigation_axis_dicts(data.shape[:-1]) + [_signal_axis_dict(energy)]
    signal = hs.signals.Signal1D(data, axes=axes)
    signal.metadata.General.title = str(md["source"])
    for key, path in _HYPERSPY_PATHS.items():
        if md[key] is not None:
            signal.metadata.set_item(path, md[key])
    if md["original_metadata"]:
        signal.original_metadata.add_dictionary(deepcopy(md["original_metadata"]))
    if importlib.util.find_spec("exspy") is not None:
        signal.set_signal_type("EELS")
    return signal
