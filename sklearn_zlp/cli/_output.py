"""What the commands write and print: subtracted spectra, maps, the report.

The report (:func:`sklearn_zlp.report.write_report`) holds every number:
``per_spectrum.csv`` has one row per spectrum (pixel) at full precision, so that
scripts need not parse the printed table.
"""

import os

import numpy as np

from .. import __version__
from ..io import write_spectra
from ..io._text import _TEXT_EXTENSIONS
from ._inputs import describe_axis

_METADATA_KEYS = ("beam_energy", "exposure_time", "collection_angle", "convergence_angle")


def _subtracted_extension(specimen):
    """.hspy for HyperSpy input, .csv for text, .npz for anything else."""
    extensions = {os.path.splitext(p)[1].lower() for p in specimen.files}
    if extensions <= {".hspy", ".hdf5", ".zspy"}:
        return ".hspy"
    if extensions <= set(_TEXT_EXTENSIONS):
        return ".csv"
    return ".npz"


def _common_metadata(specimen):
    """Acquisition parameters every file agrees on (others unknown: None)."""
    md = {}
    for key in _METADATA_KEYS:
        values = {m.get(key) for m in specimen.metadata}
        md[key] = values.pop() if len(values) == 1 else None
    return md


def write_subtracted(folder, specimen, result):
    """The median and the 68% band edges of the subtracted spectra, as files.

    One file each, in the input's format family, on the aligned axis; a single
    line scan or image keeps its navigation shape.
    """
    ext = _subtracted_extension(specimen)
    md = _common_metadata(specimen)
    if len(specimen.files) == 1:
        md["navigation_shape"] = specimen.navigation_shapes[0]
    else:
        md["navigation_shape"] = (len(specimen.names),)
    paths = []
    low, high = result.subtracted_band
    for suffix, values in (("", result.subtracted_median), ("_p16", low), ("_p84", high)):
        path = folder / f"subtracted_spectra{suffix}{ext}"
        # a spectrum whose subtraction failed stays NaN (its status says why)
        write_spectra(path, values, result.energy, md, allow_nan=True)
        paths.append(path)
    return paths


def settings_of(args, specimen, subtractor):
    """The job's settings as plain values, for the report."""
    settings = {
        "command": args.command,
        "files": list(specimen.files),
        "vacuum": list(args.vacuum or []),
        "energy_axis": describe_axis(specimen.energy),
        "replicas": args.replicas,
        "replicas_kept": int(getattr(subtractor.regressor_, "n_replicas_", args.replicas)),
        "epochs": args.epochs,
        "de1": "auto" if args.de1 is None else args.de1,
        "de2": "auto" if args.de2 is None else args.de2,
        "de1_method": args.de1_method,
        "training": subtractor.training,
        "device": args.device,
        "seed": args.seed,
        "jobs": args.jobs,
        "sklearn_zlp": __version__,
    }
    for key in ("energy", "energy_unit", "zlp_search", "window", "b", "background"):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    return settings


def write_outputs(folder, args, *, specimen, subtractor, result, band_gap, maps, message):
    """Write every output file; return their paths."""
    paths = write_subtracted(folder, specimen, result)
    if maps is not None:
        paths.append(folder / "maps.npz")
        maps.save(paths[-1])
    from ..report import write_report

    n = len(specimen.names)
    title = f"sklearn-zlp {args.command}: {n} spectr{'um' if n == 1 else 'a'}"
    try:
        report = write_report(
            folder,
            subtractor=subtractor,
            result=result,
            names=list(specimen.names),
            band_gap=band_gap,
            maps=maps,
            settings=settings_of(args, specimen, subtractor),
            title=title,
        )
    except ImportError as exc:  # matplotlib missing: the spectra are written already
        message(f"No report: {exc}")
        return paths
    paths += [p for p in report.values() if p not in paths]
    return paths


def _fmt(value, digits):
    return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"


def _interval(value, band, digits):
    """``value [low, high]`` in a column 26 characters wide."""
    low, high = band
    return f"{_fmt(value, digits):>7} [{_fmt(low, digits)}, {_fmt(high, digits)}]".ljust(26)


def table(command, names, result, band_gap=None, maps=None):
    """The table a command prints: one line per spectrum, or a summary of maps."""
    if maps is not None:
        return maps.summary() + "\n(every pixel's numbers: per_spectrum.csv, maps.npz)"
    width = max(12, *(len(n) + 2 for n in names))
    if command == "bandgap":
        lines = [f"{'spectrum':<{width}}{'E_bg (eV) [16%, 84%]':<26}{'b':>6}  status"]
        for i, name in enumerate(names):
            lines.append(
                f"{name:<{width}}"
                + _interval(band_gap.e_bg_median[i], band_gap.e_bg_band[:, i], 3)
                + f"{_fmt(band_gap.b_median[i], 2):>6}  {band_gap.status[i]}"
            )
        return "\n".join(lines)
    if command == "thickness":
        lines = [f"{'spectrum':<{width}}{'t/lambda [16%, 84%]':<26}status"]
        for i, name in enumerate(names):
            lines.append(
                f"{name:<{width}}"
                + _interval(result.t_over_lambda[i], result.t_over_lambda_band[:, i], 4)
                + str(result.t_over_lambda_status[i])
            )
        return "\n".join(lines)
    lines = [f"{'spectrum':<{width}}{'dE_I (eV)':>10}{'dE_II (eV)':>11}  status"]
    for i, name in enumerate(names):
        lines.append(
            f"{name:<{width}}{_fmt(result.de1[i], 3):>10}{_fmt(result.de2[i], 3):>11}"
            f"  {result.status[i]}"
        )
    return "\n".join(lines)
