"""EMSA/MSA specifics (.msa, .ems): completeness check, exposure time, writer.

RosettaSciIO reads every value after ``#SPECTRUM`` and stops at the end of the
file, so a truncated file reads as a shorter spectrum without a word. The
standard closes every file with ``#ENDOFDATA`` and declares the number of points
in ``#NPOINTS``; :func:`_check_msa_complete` requires the first and, after
reading, :func:`_check_msa_points` compares the second.
"""

import numpy as np

from ._axes import _uniform_axis
from ._metadata import _hyperspy_metadata, _to_float_or_none
from ._optional import _import_rsciio

_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6}
_FIX = "copy or export the file again"


def _keyword(line):
    """The keyword of an MSA ``#KEYWORD : value`` line, upper case, units dropped."""
    return line[1:].partition(":")[0].strip().partition("-")[0].strip().upper()


def _check_msa_complete(source):
    """Raise unless the file has a data section closed by ``#ENDOFDATA``."""
    # latin-1, as RosettaSciIO reads MSA: any byte decodes
    with open(source, encoding="latin-1") as f:
        lines = f.read().splitlines()
    in_data = False
    n_values = 0
    last_lineno = 0
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("#"):
            keyword = _keyword(line)
            if keyword == "SPECTRUM":
                in_data = True
            elif keyword == "ENDOFDATA" and in_data:
                return
        elif in_data and line:
            n_values += len(line.replace(",", " ").split())
            last_lineno = lineno
    if not in_data:
        raise ValueError(
            f"'{source}' has no '#SPECTRUM' line, so no data: it holds only (part of) "
            "an MSA header, or is not an MSA file. If it was cut short, "
            f"{_FIX}."
        )
    raise ValueError(
        f"'{source}' ends without the '#ENDOFDATA' line that closes every MSA file: "
        f"it is truncated (its {n_values} values end at line {last_lineno}, and the "
        f"last one may be cut off); {_FIX}."
    )


def _check_msa_points(source, n_points, original):
    """Compare the points read with ``#NPOINTS`` (if the file declares it)."""
    declared = _to_float_or_none(_msa_value(original, "NPOINTS"))
    if declared is None or declared == n_points:
        return
    columns = _to_float_or_none(_msa_value(original, "NCOLUMNS"))
    datatype = str(_msa_value(original, "DATATYPE") or "Y").strip().upper()
    layout = f"{datatype} data"
    if columns is not None:
        per_line = int(columns) * (2 if datatype == "XY" else 1)
        layout += f", #NCOLUMNS: {columns:g}, so {per_line} per line"
    raise ValueError(
        f"'{source}' declares '#NPOINTS: {declared:g}' but its data section holds "
        f"{n_points} points ({layout}): the file is damaged or was edited; {_FIX}, "
        "or correct #NPOINTS if the data are right."
    )


def _msa_value(original, keyword):
    for key, value in original.items():
        if str(key).partition("-")[0].strip().upper() == keyword:
            return value
    return None


def _msa_exposure(original):
    """Exposure time in s from INTEGTIME or DWELLTIME (ms unless the key says)."""
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
