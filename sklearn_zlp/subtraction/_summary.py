"""ZLPSubtractor.summary(): what was fitted and how well, for a person to read."""

import numpy as np

from .._status import OK, describe_status
from ._extrapolation import anchor_energies

__all__ = ["subtractor_summary"]


def _range(values, fmt="{:.3g}"):
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "n/a"
    low, mid, high = np.min(finite), np.median(finite), np.max(finite)
    if np.isclose(low, high):
        return fmt.format(mid)
    return f"{fmt.format(mid)} (from {fmt.format(low)} to {fmt.format(high)})"


def _statuses(status, what):
    lines = []
    names, counts = np.unique(np.asarray(status, dtype=str), return_counts=True)
    for name, count in zip(names, counts, strict=True):
        if name == OK:
            continue
        which = np.flatnonzero(np.asarray(status, dtype=str) == name)[:8].tolist()
        lines.append(
            f"  {name}: {count} {what} {which}{' ...' if count > 8 else ''}: "
            f"{describe_status(name)}"
        )
    return lines


def subtractor_summary(est):
    """The text of :meth:`ZLPSubtractor.summary`."""
    n_spectra = est.de1_.size
    energy = est.energy_axis_
    lines = [
        f"ZLPSubtractor ({est.mode} mode), fitted on {n_spectra} spectra x "
        f"{energy.size} channels ({energy[0]:.4g} to {energy[-1]:.4g} eV)",
        f"  ZLP width (FWHM): {_range(est.fwhm_)} eV",
    ]
    if est.mode == "specimen":
        lines += [
            f"  region I: |E| < dE_I = {_range(est.de1_)} eV "
            f"({_range(est.de1_ / est.fwhm_, '{:.2g}')} FWHM); region III from "
            f"dE_II = {_range(est.de2_)} eV",
            f"  matching over [dE_I - {est.match_width:g} eV, dE_I]; trained "
            f"energies {est.trained_range_[0]:.3g} to {est.trained_range_[1]:.3g} eV, "
            "a power-law continuation beyond",
        ]
    else:
        start = anchor_energies(est.trained_range_, est.mode)
        start = est.trained_range_ if start is None else start
        lines.append(
            f"  trained channels: {_range(-est.de1_)} to {_range(est.de2_)} eV "
            f"(signal above 3 sigma); power-law continuation beyond "
            f"{start[0]:.3g} and {start[1]:.3g} eV"
        )
    for j, name in enumerate(est.covariates):
        values = est.training_covariates_[:, j]
        lines.append(
            f"  covariate {name}: training range {values.min():.5g} to {values.max():.5g}"
        )
    lines += [
        f"  noise: read noise {est.read_noise_:.3g} counts per channel"
        f"{' (estimated)' if est.read_noise == 'auto' else ''}, sigma={est.sigma!r}, "
        f"relative_sigma {est.relative_sigma_:g}",
        f"  point table: {est.n_training_points_} data points",
    ]
    if est.band_scale != 1.0:
        lines.append(
            f"  bands recalibrated: replicas' spread about their median x "
            f"band_scale {est.band_scale:.3g}"
        )
    regressor = est.regressor_
    status = getattr(regressor, "replica_status_", None)
    if status is not None:
        from ..ensemble._diagnostics import status_summary

        n_all = status.size
        lines.append(
            f"  replicas: {regressor.n_replicas_} of {n_all} kept "
            f"({100 * regressor.n_replicas_ / n_all:.0f}%); {status_summary(status)}"
        )
    chi2 = est.training_chi2_
    spread = np.nanquantile(np.nanmedian(chi2, axis=1), [0.16, 0.5, 0.84])
    lines += [
        "quality (chi^2 per point, training uncertainties; about 1 is a fit to the noise)",
        f"  per replica, median over spectra: {spread[1]:.3g} "
        f"(16-84% of replicas {spread[0]:.3g} to {spread[2]:.3g})",
        f"  median model, per spectrum: {_range(est.spectrum_chi2_)}",
    ]
    if np.any(np.isfinite(est.heldout_chi2_)):
        q = est.heldout_residual_quantiles_
        lines += [
            f"  held out (each point predicted by the replicas that did not train "
            f"on it), per spectrum: {_range(est.heldout_chi2_)}",
            f"  held-out standardised residuals: 16/50/84% {q[0]:.3g} / {q[1]:.3g} / "
            f"{q[2]:.3g} (a fit to the noise: -1 / 0 / 1)",
        ]
    else:
        lines.append("  held out: n/a (the regressor has no oob_prediction_)")
    flagged = _statuses(est.training_status_, "training spectra")
    lines.append("training spectra: " + ("all ok" if not flagged else "warnings"))
    lines += flagged
    return "\n".join(lines)
