"""The report's CSV tables and the README that describes every column."""

import csv

import numpy as np

__all__ = ["per_spectrum_rows", "replica_rows", "spectra_table", "write_csv"]

# Diagnostics of ZLPSubtractionResult: (column, unit suffix, description)
_DIAGNOSTICS = {
    "region_i_chi2": (
        "region_i_chi2",
        "mean squared residual of the median model in the matching interval "
        "[dE_0, dE_I), standardised by counting noise and band "
        "(poor_fit_in_region_i above 4)",
    ),
    "region_i_model_chi2": (
        "region_i_model_chi2",
        "the same without the model's band in the standardisation",
    ),
    "region_i_relative_misfit": (
        "region_i_relative_misfit",
        "median of |data - model| / data in the matching interval",
    ),
    "de1_over_fwhm": (
        "de1_over_fwhm",
        "dE_I in units of the ZLP's FWHM (region_i_too_short below 2.75)",
    ),
    "zlp_excess_fraction": (
        "zlp_excess_fraction",
        "fraction of region-II channels where the model's lower band edge lies 3 "
        "sigma above the data (zlp_exceeds_data from 0.1)",
    ),
    "covariate_outside": (
        "covariate_outside",
        "1 if a covariate (e.g. ln N_tot) lies more than 5% outside the training "
        "range, else 0",
    ),
    "fwhm_outside": (
        "fwhm_outside",
        "1 if the ZLP's FWHM lies more than 5% outside the training range, else 0",
    ),
    "gain_side_floor": (
        "gain_side_floor_counts",
        "floor of counts per channel on the far gain side (dark offset or detector tail)",
    ),
    "gain_side_floor_error": (
        "gain_side_floor_error_counts",
        "standard error of that floor, counts per channel",
    ),
    "floor_t_over_lambda": (
        "floor_t_over_lambda",
        "how much that floor adds to t/lambda",
    ),
    "hidden_t_over_lambda": (
        "hidden_t_over_lambda",
        "how much the specimen's losses below dE_I, drawn per replica, add to t/lambda",
    ),
}


def percentile_names(confidence_level):
    """Column suffixes of a band's edges: ``("p16", "p84")`` at 0.68."""
    low = round(50 * (1 - confidence_level), 1)
    return f"p{low:g}", f"p{100 - low:g}"


def per_spectrum_rows(result, names, band_gap, maps=None):
    """One row per spectrum: regions, t/lambda, band gap, statuses, diagnostics.

    Without ``band_gap``, a spectrum image's band-gap maps (``maps`` with E_bg
    computed) give the band-gap columns, pixel by pixel in C order.

    Returns
    -------
    rows : list of dict
        Values as in the result objects: NaN where they failed (a status says
        why), never replaced by a number.
    columns : dict of str to str
        Every column's description, in the order of the table.
    """
    lo, hi = percentile_names(result.confidence_level)
    level = f"{result.confidence_level:.0%}"
    columns = {
        "spectrum": "name of the spectrum",
        "status": "status of the subtraction: ok or why its results may not be trusted",
        "de0_eV": "start of the matching interval dE_0, eV",
        "de1_eV": "end of region I, dE_I, eV",
        "de2_eV": "start of region III, dE_II, eV",
        "t_over_lambda": "relative thickness ln(I_total / I_ZLP), median over replicas",
        f"t_over_lambda_{lo}": f"lower edge of its {level} band",
        f"t_over_lambda_{hi}": f"upper edge of its {level} band",
        "t_over_lambda_status": "status of t/lambda (NaN values have a status other than ok)",
    }
    t_band = np.asarray(result.t_over_lambda_band, dtype=float)
    rows = []
    for i, name in enumerate(names):
        rows.append(
            {
                "spectrum": name,
                "status": str(result.status[i]),
                "de0_eV": float(result.de0[i]),
                "de1_eV": float(result.de1[i]),
                "de2_eV": float(result.de2[i]),
                "t_over_lambda": float(result.t_over_lambda[i]),
                f"t_over_lambda_{lo}": float(t_band[0, i]),
                f"t_over_lambda_{hi}": float(t_band[1, i]),
                "t_over_lambda_status": str(result.t_over_lambda_status[i]),
            }
        )
    if band_gap is not None:
        gap_columns = {
            "e_bg_eV": "band gap E_bg, median over the ok replicas of A (E - E_bg)^b fits, eV",
            "e_bg_p16_eV": "lower edge of its 68% band (16th percentile), eV",
            "e_bg_p84_eV": "upper edge of its 68% band (84th percentile), eV",
            "b": "onset exponent b, median over the ok replicas (0.5 direct, 1.5 indirect)",
            "b_p16": "lower edge of its 68% band",
            "b_p84": "upper edge of its 68% band",
            "p_indirect": "probability (equal prior odds) that the gap is indirect (b=1.5) "
            "rather than direct (b=0.5)",
            "preferred": "indirect (p_indirect >= 0.84), direct (<= 0.16) or undetermined",
            "fraction_ok": "fraction of the replicas whose band-gap fit is ok",
            "e_bg_status": "status of the band-gap fit (NaN values have a status other than ok)",
            "window_min_eV": "start of the fitted energy window, eV",
            "window_max_eV": "end of the fitted energy window, eV",
        }
        columns.update(gap_columns)
        p = band_gap.p_indirect
        p = np.full(len(names), np.nan) if p is None else np.asarray(p, dtype=float)
        for i, r in enumerate(rows):
            r.update(
                {
                    "e_bg_eV": float(band_gap.e_bg_median[i]),
                    "e_bg_p16_eV": float(band_gap.e_bg_band[0, i]),
                    "e_bg_p84_eV": float(band_gap.e_bg_band[1, i]),
                    "b": float(band_gap.b_median[i]),
                    "b_p16": float(band_gap.b_band[0, i]),
                    "b_p84": float(band_gap.b_band[1, i]),
                    "p_indirect": float(p[i]),
                    "preferred": band_gap.preferred[i],
                    "fraction_ok": float(band_gap.fraction_ok[i]),
                    "e_bg_status": str(band_gap.status[i]),
                    "window_min_eV": float(band_gap.window[i, 0]),
                    "window_max_eV": float(band_gap.window[i, 1]),
                }
            )
    if band_gap is None and maps is not None:
        columns.update(_map_gap_columns(maps.compute(), rows))
    for key, values in result.diagnostics.items():
        column, text = _DIAGNOSTICS.get(key, (key, "diagnostic of the subtraction"))
        columns[column] = f"{text} (diagnostics[{key!r}])"
        values = np.asarray(values)
        for i, r in enumerate(rows):
            v = values[i]
            r[column] = int(v) if values.dtype == bool else float(v)
    return rows, columns


def _map_gap_columns(maps, rows):
    """Add each pixel's band gap from ``maps`` to ``rows``; return the columns."""
    if not np.any(maps.e_bg_status != "not_computed"):
        return {}
    fields = {
        "e_bg_eV": (
            maps.e_bg,
            "band gap E_bg of the pixel, median over its ok replicas, eV",
        ),
        "e_bg_p16_eV": (maps.e_bg_band[0], "lower edge of its 68% band, eV"),
        "e_bg_p84_eV": (maps.e_bg_band[1], "upper edge of its 68% band, eV"),
        "b": (maps.b, "onset exponent b, median over the ok replicas"),
        "b_p16": (maps.b_band[0], "lower edge of its 68% band"),
        "b_p84": (maps.b_band[1], "upper edge of its 68% band"),
        "p_indirect": (maps.p_indirect, "probability that the gap is indirect (b=1.5)"),
        "e_bg_status": (maps.e_bg_status, "status of the pixel's band-gap fit"),
    }
    for column, (values, _) in fields.items():
        flat = np.asarray(values).reshape(-1)
        for i, r in enumerate(rows):
            r[column] = str(flat[i]) if column == "e_bg_status" else float(flat[i])
    return {column: f"{text} (from the maps)" for column, (_, text) in fields.items()}


def replica_rows(regressor):
    """One row per replica of the ensemble: status, chi^2, stopping epoch."""
    columns = {
        "replica": "index of the Monte Carlo replica",
        "status": "ok, restarted or stuck (kept), or why it was dropped",
        "kept": "1 if predictions use the replica, else 0",
        "chi2_per_point": "final chi^2 per point on all its training points",
        "valid_chi2_per_point": "best validation chi^2 per point (the weights kept)",
        "initial_valid_chi2_per_point": "validation chi^2 per point of its initial weights",
        "best_epoch": "epoch whose weights were kept (1: the initial weights)",
        "restarts": "how often the replica was retrained",
        "lr": "learning rate of its kept fit",
    }
    rows = [
        {
            "replica": i,
            "status": str(regressor.replica_status_[i]),
            "kept": int(regressor.kept_[i]),
            "chi2_per_point": float(regressor.replica_chi2_[i]),
            "valid_chi2_per_point": float(regressor.replica_valid_chi2_[i]),
            "initial_valid_chi2_per_point": float(regressor.replica_initial_chi2_[i]),
            "best_epoch": int(regressor.replica_best_epoch_[i]),
            "restarts": int(regressor.replica_restarts_[i]),
            "lr": float(regressor.replica_lr_[i]),
        }
        for i in range(len(regressor.replica_status_))
    ]
    return rows, columns


def spectra_table(energy, names, arrays, confidence_level):
    """A wide table: the energy axis, then each spectrum's columns in counts.

    ``arrays`` maps a quantity (``"data"``, ``"median"``, ...) to an array of
    shape (n_spectra, n_channels), or for a band (``"band"``) of shape (2,
    n_spectra, n_channels), written as its two percentile columns.

    Returns
    -------
    header : list of str
    table : ndarray of shape (n_channels, n_columns)
    quantities : list of str
        The columns of each spectrum, ``<name>_<quantity>_counts``.
    """
    lo, hi = percentile_names(confidence_level)
    quantities = []
    for quantity in arrays:
        if quantity.endswith("band"):
            prefix = quantity[: -len("band")]
            quantities += [f"{prefix}{lo}", f"{prefix}{hi}"]
        else:
            quantities.append(quantity)
    header, columns = ["energy_eV"], [np.asarray(energy, dtype=float)]
    for i, name in enumerate(names):
        header += [f"{name}_{q}_counts" for q in quantities]
        for quantity, values in arrays.items():
            if quantity.endswith("band"):
                columns += [values[0, i], values[1, i]]
            else:
                columns.append(values[i])
    return header, np.column_stack(columns), quantities


def _cell(value):
    # repr: the shortest text that reads back as the same float; NaN as "nan"
    if isinstance(value, float):
        return repr(value)
    return value


def write_csv(path, rows=None, columns=None, *, header=None, table=None):
    """Write dict rows (``columns`` in order) or a numeric ``table`` with ``header``."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        if rows is not None:
            writer.writerow(list(columns))
            for r in rows:
                writer.writerow([_cell(r[c]) for c in columns])
        else:
            writer.writerow(header)
            # 17 significant digits read back as the same float64; NaN as "nan"
            np.savetxt(fh, table, delimiter=",", fmt="%.17g")
    return path
