"""Checks every reader shares: the path, and the array a file holds.

Each error names the file, what is wrong with it and how to fix it.
"""

import os

import numpy as np

_DTYPE_PROBLEMS = {
    "b": "booleans (True/False), not intensities; store counts as numbers",
    "c": "complex numbers, but EEL intensities are real; store np.abs(a) or a.real",
    "O": "Python objects, not numbers; store a numeric array",
    "U": "text, not numbers; store a numeric array",
    "S": "bytes, not numbers; store a numeric array",
    "V": "a structured (record) array; store the intensities alone as a numeric array",
    "m": "time spans, not intensities; store counts as numbers",
    "M": "dates, not intensities; store counts as numbers",
}


def _check_path(source, directory_ok=False):
    """Raise unless ``source`` is an existing, non-empty file.

    ``directory_ok`` for formats stored as a directory (zarr's ``.zspy``).
    """
    if not os.path.exists(source):
        raise FileNotFoundError(
            f"No such file: '{source}' (working directory: '{os.getcwd()}'); check "
            "the path and its spelling."
        )
    if os.path.isdir(source):
        if directory_ok:
            return
        raise IsADirectoryError(
            f"'{source}' is a directory, not a file; pass the path of a file inside "
            "it (read each file of a folder with a loop over os.listdir or "
            "pathlib.Path.glob)."
        )
    if os.path.getsize(source) == 0:
        raise ValueError(
            f"'{source}' is empty (0 bytes): it holds no spectra. A copy, download or "
            "export was probably interrupted or never written; copy or export it again."
        )


_FILE_FIX = (
    "clean or interpolate them in the file, or load it yourself (e.g. "
    "numpy.genfromtxt) and replace them before use"
)


def _spectra_from_array(array, label, what, fix=_FILE_FIX):
    """A float64 copy of ``array`` with spectra as rows, and its navigation shape."""
    array = np.asarray(array)
    problem = _DTYPE_PROBLEMS.get(array.dtype.kind)
    if problem is not None:
        raise ValueError(f"{what} in {label} (dtype {array.dtype}) holds {problem}.")
    if array.ndim == 0:
        raise ValueError(
            f"{what} in {label} is a single number; expected a spectrum (1-D) or "
            "spectra with channels on the last axis."
        )
    if array.size == 0:
        raise ValueError(
            f"{what} in {label} is empty (shape {array.shape}); it holds no spectra."
        )
    spectra = np.array(array, dtype=np.float64).reshape(-1, array.shape[-1])
    _check_finite(spectra, label, fix)
    return spectra, tuple(int(n) for n in array.shape[:-1])


def _check_finite(spectra, label, fix=_FILE_FIX):
    bad = ~np.isfinite(spectra)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{label} contains {int(bad.sum())} NaN or infinite intensities (first "
            f"in spectrum {row}, channel {col}); {fix}."
        )
