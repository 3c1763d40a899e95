"""``sklearn-zlp info FILE...``: what was read, without fitting anything.

Reading, the ZLP's position and width and the counts need the readers and the
peak finder only: no torch, so it answers in about as long as reading takes.
"""

import warnings

import numpy as np

from ._errors import one_line
from ._inputs import describe_axis, read_one

_UNITS = {
    "beam_energy": "keV",
    "exposure_time": "s",
    "collection_angle": "mrad",
    "convergence_angle": "mrad",
}
# Up to this many spectra a file's ZLPs are listed one by one; beyond, summarised.
_LIST_AT_MOST = 10


def _shape_text(n, shape):
    if len(shape) >= 2:
        return f"spectrum image, {' x '.join(map(str, shape))} pixels ({n} spectra)"
    if len(shape) == 1 and n > 1:
        return f"line scan of {n} spectra"
    return "one spectrum" if n == 1 else f"{n} spectra"


def _spread(values, digits):
    finite = values[np.isfinite(values)]
    if not finite.size:
        return "none found"
    return (
        f"median {np.median(finite):.{digits}f}, range {finite.min():.{digits}f} to "
        f"{finite.max():.{digits}f}"
    )


def describe_file(path, energy=None, energy_unit=None):
    """The lines ``info`` prints for one file.

    Parameters
    ----------
    path : str
    energy : tuple of (float, float), default=None
    energy_unit : str, default=None

    Returns
    -------
    lines : list of str
    """
    from ..preprocessing import find_zlp_position, zlp_fwhm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spectra, axis, md = read_one(path, energy, energy_unit)
    n = spectra.shape[0]
    shape = tuple(md.get("navigation_shape") or ())
    lines = [
        f"{path}",
        f"  format: {md.get('format', '?')}; {_shape_text(n, shape)}",
        f"  energy axis: {describe_axis(axis)} (read as eV; keV and meV axes are "
        "converted)",
    ]
    known = [
        f"{key} {md[key]:g} {unit}"
        for key, unit in _UNITS.items()
        if md.get(key) is not None
    ]
    missing = [key for key in _UNITS if md.get(key) is None]
    lines.append(
        "  metadata: "
        + (", ".join(known) if known else "no acquisition parameters")
        + (f"; not in the file: {', '.join(missing)}" if missing else "")
    )
    positions, status = find_zlp_position(spectra, axis, missing="nan", return_status=True)
    widths = zlp_fwhm(spectra, axis)
    totals = spectra.sum(axis=1)
    if n <= _LIST_AT_MOST:
        for i in range(n):
            label = "  spectrum" + (f" {i}" if n > 1 else "")
            zlp = (
                f"ZLP at {positions[i]:+.4f} eV, FWHM {widths[i]:.4f} eV"
                if status[i] == "ok"
                else f"ZLP {status[i]}"
            )
            lines.append(f"{label}: {zlp}, total counts {totals[i]:.6g}")
    else:
        lines.append(f"  ZLP position (eV): {_spread(positions, 4)}")
        lines.append(f"  ZLP FWHM (eV): {_spread(widths, 4)}")
        lines.append(f"  total counts: {_spread(totals, 0)}")
    bad = status != "ok"
    if bad.any():
        kinds = ", ".join(
            f"{c} {s}"
            for s, c in zip(
                *np.unique(status[bad].astype(str), return_counts=True), strict=True
            )
        )
        lines.append(f"  warning: {int(bad.sum())} spectra without a clear ZLP ({kinds})")
    dispersion = (axis[-1] - axis[0]) / max(axis.size - 1, 1)
    found = positions[np.isfinite(positions)]
    if found.size:
        if np.all(np.abs(found) <= 0.5 * dispersion):
            lines.append("  aligned: yes (every ZLP maximum within half a channel of 0 eV)")
        else:
            where = (
                f"{found[0]:+.4f} eV"
                if found.size == 1
                else f"{found.min():+.4f} to {found.max():+.4f} eV"
            )
            lines.append(
                f"  aligned: no (ZLP maxima at {where}); subtract, bandgap and "
                "thickness align them"
            )
    if np.any(spectra < 0):
        lines.append(
            f"  note: {int(np.sum(spectra < 0))} channels are negative (dark or gain "
            "correction)"
        )
    for w in caught:
        lines.append(f"  warning: {one_line(w.message)}")
    return lines


def run_info(args):
    """Print what every file of ``args.files`` holds."""
    for k, path in enumerate(args.files):
        if k:
            print()
        print("\n".join(describe_file(path, args.energy, args.energy_unit)), flush=True)
    return 0
