"""Text files (.txt, .dat, .csv, .tsv): spectra as rows, or energy and spectra as columns.

Files written by :func:`write_spectra` declare their layout and shape in ``#``
comment lines (``# n_spectra``, ``# n_channels``) and end with a line break, so
any truncation of them is detected: a cut at a line boundary loses declared
channels, a cut inside a line loses the final line break. Foreign files are
checked as far as their content allows: every line must hold the same number of
values, and a short or cut-off last line is reported as a truncated file.
"""

import re

import numpy as np

from .._validation import check_energy_axis
from ._axes import (
    _energy_unit_factor,
    _no_energy_error,
    _resolve_energy,
    suspected_unit,
    unit_error,
)
from ._checks import _check_finite
from ._metadata import _make_metadata, _to_float_or_none
from ._spectra_file import SpectraFile

_TEXT_EXTENSIONS = (".txt", ".dat", ".csv", ".tsv")
# Keys of the ``# key: value`` comment lines that write_spectra puts in text files.
_TEXT_KEYS = {
    "beam_energy_keV": "beam_energy",
    "exposure_time_s": "exposure_time",
    "collection_angle_mrad": "collection_angle",
    "convergence_angle_mrad": "convergence_angle",
}
_SHAPE_KEYS = ("n_spectra", "n_channels")
_SEPARATOR_NAMES = {None: "spaces", ",": "commas", "\t": "tabs", ";": "semicolons"}
# What a number cut short by a truncated file can look like: "-", "1.", "1.5e", "2e-".
_CUT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d*)?([eE][+-]?)?")
_MISSING = ("", "na", "n/a", "-", "--", "null", "none", "?")
_ENERGY_TOKEN = re.compile(r"(?<![A-Za-z])((?i:k?ev)|meV|MeV)(?![A-Za-z])")
# Units and quantities that mark a first column as not an energy axis in eV.
_OTHER_UNITS = {
    "nm", "um", "µm", "μm", "mm", "cm", "m", "å", "angstrom", "s", "ms", "us", "µs",
    "μs", "ns", "ps", "hz", "khz", "mhz", "ghz", "thz", "cm-1", "cm^-1", "1/cm", "j",
    "counts", "cts", "a.u.", "au", "arb. units", "mrad", "rad", "deg", "px", "ch", "%",
}  # fmt: skip
_OTHER_QUANTITIES = ("channel", "pixel", "index", "wavelength", "wavenumber", "time")


class _CellError(ValueError):
    def __init__(self, column, field):
        super().__init__(f"could not convert {field!r} to a number")
        self.column, self.field = column, field


def _read_text(source, energy, layout, unit_factor=None):
    """Read a text file; ``unit_factor`` is eV per unit of its energy column (None:
    from the header, else eV if the axis looks like eV)."""
    text = _load_text(source)
    lines = text.splitlines()
    comments, content = [], []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
        else:
            content.append((lineno, line))
    info = _parse_comments(comments, source)
    header = None
    if content:
        first = content[0][1]
        first_sep = _detect_separator(first)
        try:
            _parse_fields(_split(first, first_sep), first_sep)
        except _CellError:
            header = _split(first, first_sep)
            content = content[1:]
    if not content:
        raise _no_data_error(source, header, comments)
    # Every writer ends its lines with a line break: a last data line without one
    # (and nothing after it) may have been cut off.
    complete = content[-1][0] < len(lines) or text.endswith(("\n", "\r"))
    table = np.array(_parse_rows(content, source, complete), dtype=np.float64)
    _check_complete(info, source, content[-1][0], complete)

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
    else:
        # A single column is one spectrum written one value per line.
        spectra = table.T.copy() if n_cols == 1 else table
    _check_declared_shape(info, spectra.shape, source, content[-1][0])
    _check_finite(spectra, f"'{source}'")
    if energy is not None:
        energy = _resolve_energy(energy, spectra.shape[1], source)
    elif layout == "columns":
        where = f"The energy axis (first column) of '{source}'"
        stated = _header_energy_factor(header, source)
        if unit_factor is not None and stated is not None and stated != unit_factor:
            raise ValueError(
                f"{where} is headed {header[0]!r}, which states its unit, but "
                f"energy_unit says {_unit_name(unit_factor)}; drop energy_unit or "
                "correct the header."
            )
        factor = stated or unit_factor or 1.0
        energy = check_energy_axis(table[:, 0] * factor, name=where)
        if stated is None and unit_factor is None:
            # Nothing says the unit: a keV or meV axis must not silently become eV.
            suspect = suspected_unit(energy, spectra)
            if suspect is not None:
                raise unit_error(where, *suspect)
    else:
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

    navigation_shape = _navigation_shape(info["navigation_shape"], spectra.shape[0], source)
    original = {}
    if comments:
        original["comments"] = comments
    if header is not None:
        original["column_names"] = header
    metadata = _make_metadata(
        source=source,
        fmt="text",
        navigation_shape=navigation_shape,
        original_metadata=original,
        **info["quantities"],
    )
    return SpectraFile(spectra, energy, metadata)


def _load_text(source):
    try:
        with open(source, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ValueError(f"Could not read text file '{source}': {exc}") from exc
    if b"\x00" in data:
        raise ValueError(
            f"'{source}' is not a text file: it holds binary data (NUL bytes). If it "
            "is a NumPy, HDF5 or Digital Micrograph file, give it the matching "
            "extension (.npy, .npz, .hspy, .dm3, ...); if it is UTF-16 text, save it "
            "as UTF-8."
        )
    return data.decode("utf-8-sig", errors="replace")


def _no_data_error(source, header, comments):
    if header is not None:
        what = (
            f"holds a header line ({', '.join(header)}) but no numeric data lines "
            "after it: the file is incomplete (truncated after the header?)"
        )
    elif comments:
        what = "holds only '#' comment lines and no numeric data lines"
    else:
        what = "holds only blank lines and no numeric data lines"
    return ValueError(
        f"'{source}' {what}; expected intensities (one spectrum per line) or columns "
        "of energy and intensities. Export or copy the file again with its data."
    )


def _parse_rows(content, source, complete):
    sep = _detect_separator(content[0][1])
    first = content[0][0]
    rows = []
    for i, (lineno, line) in enumerate(content):
        expected = len(rows[0]) if rows else None
        last = i == len(content) - 1
        try:
            values = _parse_fields(_split(line, sep), sep)
        except _CellError as exc:
            raise _bad_line(
                source, lineno, line, sep, expected, last, complete, first, exc
            ) from None
        if expected is not None and len(values) != expected:
            raise _bad_line(
                source,
                lineno,
                line,
                sep,
                expected,
                last,
                complete,
                first,
                None,
                len(values),
            )
        rows.append(values)
    return rows


def _bad_line(
    source, lineno, line, sep, expected, last, complete, first, cell_error, n_values=None
):
    """The clearest error for a line that does not parse or does not fit."""
    fix = "copy or export it again"
    cut_number = (
        cell_error is not None
        and _CUT_NUMBER.fullmatch(cell_error.field) is not None
        and cell_error.field != ""
    )
    short = n_values is not None and expected is not None and n_values < expected
    if last and not complete and (short or cut_number):
        detail = (
            f"its last value {cell_error.field!r} is cut off"
            if cut_number
            else f"it holds {n_values} of the {expected} values of the lines before it"
        )
        return ValueError(
            f"'{source}' ends in the middle of line {lineno} ({detail}): the file is "
            f"truncated; {fix}."
        )
    own = _detect_separator(line)
    if own != sep and (own is not None or len(line.split()) > 1):
        return ValueError(
            f"Could not read '{source}': line {lineno} is separated by "
            f"{_SEPARATOR_NAMES[own]} but line {first} by {_SEPARATOR_NAMES[sep]}; "
            "use one separator throughout the file (mixed separators: a merged or "
            "hand-edited file?)."
        )
    if last and short:
        return ValueError(
            f"'{source}' looks truncated: its last line (line {lineno}) holds "
            f"{n_values} values but the lines before it hold {expected}; {fix}, or "
            "remove that line if it is wrong."
        )
    if cell_error is not None:
        column = cell_error.column + 1
        if cell_error.field.strip().lower() in _MISSING:
            what = f"column {column} holds no value ({cell_error.field!r}: a missing value)"
            todo = "fill in the missing values (NaN is not allowed either: interpolate)"
        else:
            what = f"column {column} holds {cell_error.field!r}, not a number"
            todo = "remove the offending line or comment it out with '#'"
        return ValueError(
            f"Could not read '{source}': line {lineno} is not numeric: {what}. Only "
            "'#' comment lines and one header line before the data may hold text; "
            f"{todo}."
        )
    return ValueError(
        f"Could not read '{source}': line {lineno} has {n_values} values but line "
        f"{first} has {expected}; every line must hold the same number of "
        "values (ragged rows: a damaged or merged file?)."
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
    for column, field in enumerate(fields):
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
            raise _CellError(column, field) from None
    return values


def _header_energy_factor(header, source):
    """eV per unit of the first column, from its header name (None if it names none)."""
    if not header:
        return None
    name = header[0]
    match = _ENERGY_TOKEN.search(name)
    if match:
        return _energy_unit_factor(match.group(1))
    bracketed = re.findall(r"[(\[]\s*([^()\[\]]*?)\s*[)\]]", name)
    words = [w for w in re.split(r"[\s_/,()\[\]]+", name) if w]
    units = [u for u in bracketed + words if u.lower() in _OTHER_UNITS]
    quantity = next((q for q in _OTHER_QUANTITIES if name.lower().startswith(q)), None)
    if units or quantity:
        parts = [f"in {units[0]!r}"] if units else []
        if quantity:
            parts.insert(0, f"{'an' if quantity[0] in 'aeiou' else 'a'} {quantity}")
        what = ", ".join(parts)
        raise ValueError(
            f"The first column of '{source}' is headed {name!r}, {what}, not an energy "
            "loss in eV: the energy axis must be in eV (keV and meV are converted). "
            "Convert that column to eV, or give the axis yourself with "
            "read_spectra(path, layout='columns', energy=...)."
        )
    return None


def _unit_name(factor):
    return {1.0: "'eV'", 1e3: "'keV'", 1e-3: "'meV'"}.get(factor, f"{factor:g} eV")


def _parse_comments(comments, source):
    info = {"quantities": {}, "navigation_shape": None, "layout": None}
    info.update(dict.fromkeys(_SHAPE_KEYS))
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
        elif key in _SHAPE_KEYS:
            if not re.fullmatch(r"\d+", value):
                raise ValueError(
                    f"Could not read '{source}': comment line '# {comment}' should "
                    "hold a whole number; fix or remove that line."
                )
            info[key] = int(value)
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


def _check_declared_shape(info, shape, source, last_lineno):
    """Compare the spectra with the ``# n_spectra``/``# n_channels`` lines, if any."""
    for key, found in zip(_SHAPE_KEYS, shape, strict=True):
        declared = info[key]
        if declared is None or declared == found:
            continue
        what = key[2:]
        if found < declared:
            raise ValueError(
                f"'{source}' holds {found} of the {declared} {what} its '# {key}: "
                f"{declared}' line declares: the file is truncated (its data end at "
                f"line {last_lineno}); copy or export it again."
            )
        raise ValueError(
            f"'{source}' holds {found} {what} but its '# {key}: {declared}' line "
            f"declares {declared}: the file was damaged or edited; export it again, "
            "or fix or remove that line."
        )


def _check_complete(info, source, last_lineno, complete):
    """A file that declares its shape was written whole, so it ends with a line break."""
    if not complete and (info["n_spectra"] is not None or info["n_channels"] is not None):
        raise ValueError(
            f"'{source}' ends in the middle of line {last_lineno} (no line break after "
            "its last value, which files with a '# n_channels' line always have): the "
            "last value may be cut off, so the file is truncated; copy or export it "
            "again."
        )


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


def _write_text(target, flat, energy, md, sep):
    lines = [
        "# EEL spectra written by sklearn-zlp: energy loss (eV) in the first column,",
        "# one spectrum per further column.",
        "# layout: columns",
        # The shape lets read_spectra detect a file cut short at a line boundary.
        f"# n_spectra: {flat.shape[0]}",
        f"# n_channels: {flat.shape[1]}",
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
