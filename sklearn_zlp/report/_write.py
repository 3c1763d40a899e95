"""write_report: the results of a subtraction as a folder a person and a program can read."""

import json
from pathlib import Path

import numpy as np

from ..plotting._common import require_matplotlib
from ._figures import report_figures
from ._html import report_html
from ._settings import settings_record
from ._tables import (
    per_spectrum_rows,
    percentile_names,
    replica_rows,
    spectra_table,
    write_csv,
)

__all__ = ["write_report"]

_FILES = {
    "report.html": "this report: one self-contained page, images embedded",
    "README.txt": "what every file and every CSV column holds",
    "settings.json": "every setting of the job, the subtractor's parameters, the "
    "versions of sklearn-zlp, numpy, scipy, scikit-learn, torch, skorch, and the date",
    "results.npz": "every array (numpy.load, allow_pickle=False): energy, spectra, "
    "medians and bands of the ZLP model, matched ZLP and subtracted spectra, "
    "per-spectrum numbers and statuses (str arrays), band-gap replicas, replicas "
    "if kept, maps if given",
    "per_spectrum.csv": "one row per spectrum: regions, t/lambda, band gap, statuses "
    "and the subtraction's diagnostics",
    "replicas.csv": "one row per replica of the ensemble: status, chi^2, stopping epoch",
    "subtracted.csv": "the subtracted spectra: median and band per spectrum, counts",
    "zlp.csv": "the recorded spectra and their matched ZLP (median and band), counts",
}


def _check(subtractor, result, names, band_gap, maps):
    if not hasattr(subtractor, "regressor_"):
        raise ValueError(
            "write_report needs a fitted ZLPSubtractor as subtractor; call "
            "subtractor.fit(X) first."
        )
    for attribute in ("subtracted_median", "t_over_lambda", "status", "de1"):
        if not hasattr(result, attribute):
            raise TypeError(
                f"result must be the ZLPSubtractionResult of subtractor.subtract(X), "
                f"got {type(result).__name__} (no {attribute})."
            )
    n = result.spectra.shape[0]
    if names is None:
        names = [f"spectrum_{i}" for i in range(n)]
    names = [str(v) for v in names]
    if len(names) != n:
        raise ValueError(
            f"names has {len(names)} entries for {n} spectra; give one name per "
            "spectrum of result, or None."
        )
    if len(set(names)) != n:
        raise ValueError("names must be unique: they name the columns of the CSV tables.")
    if band_gap is not None and np.shape(band_gap.status) != (n,):
        raise ValueError(
            f"band_gap holds {np.size(band_gap.status)} spectra, result {n}; fit the "
            "band gap on the same spectra, e.g. fit_band_gap(energy, result, ...)."
        )
    if maps is not None and not hasattr(maps, "as_dict"):
        raise TypeError(
            f"maps must be SpectralMaps from sklearn_zlp.maps.spectral_maps, got "
            f"{type(maps).__name__}."
        )
    return names


def _arrays(result, names, band_gap, maps, rows):
    out = {
        "energy": result.energy,
        "names": np.array(names, dtype=str),
        "spectra": result.spectra,
        "confidence_level": np.array(result.confidence_level),
        "de0": result.de0,
        "de1": result.de1,
        "de2": result.de2,
        "status": np.asarray(result.status, dtype=str),
        "t_over_lambda": result.t_over_lambda,
        "t_over_lambda_band": result.t_over_lambda_band,
        "t_over_lambda_status": np.asarray(result.t_over_lambda_status, dtype=str),
    }
    for kind in ("zlp_model", "zlp", "subtracted"):
        out[f"{kind}_median"] = getattr(result, f"{kind}_median")
        out[f"{kind}_band"] = getattr(result, f"{kind}_band")
        if result.replicas_kept:
            out[f"{kind}_replicas"] = getattr(result, kind)
    for key, values in result.diagnostics.items():
        out[f"diagnostics_{key}"] = np.asarray(values)
    if band_gap is not None:
        for name in ("e_bg_median", "e_bg_band", "b_median", "b_band", "fraction_ok"):
            out[f"band_gap_{name}"] = np.asarray(getattr(band_gap, name))
        p = band_gap.p_indirect
        out["band_gap_p_indirect"] = np.full(len(names), np.nan) if p is None else p
        out["band_gap_status"] = np.asarray(band_gap.status, dtype=str)
        out["band_gap_window"] = np.asarray(band_gap.window)
        for name in ("e_bg", "b", "amplitude", "chi2"):
            out[f"band_gap_replica_{name}"] = np.asarray(getattr(band_gap, name))
        out["band_gap_replica_status"] = np.asarray(band_gap.replica_status, dtype=str)
    if maps is not None:
        for name, values in maps.compute().as_dict().items():
            out[f"map_{name}"] = np.asarray(values)
    return out


def _readme(title, record, files, tables):
    lines = [
        title,
        "=" * len(title),
        "",
        f"Written by sklearn-zlp {record['versions']['sklearn_zlp']} on {record['created']}.",
        "Energies are in eV, intensities in counts (per channel). A value that cannot be",
        "trusted is NaN ('nan' in the CSV files) and the status column next to it says",
        "why (sklearn_zlp.describe_status(name) explains every status). Bands are the",
        f"{record['result']['confidence_level']:.0%} central intervals over the Monte "
        "Carlo replicas (lower, upper);",
        "band-gap bands are 68%.",
        "",
        "Files",
        "-----",
    ]
    for name, text in files.items():
        lines.append(f"{name}: {text}")
    for name, (columns, patterns) in tables.items():
        lines += ["", name, "-" * len(name), "Columns, in order:", ", ".join(columns), ""]
        lines += [f"{column}: {text}" for column, text in patterns.items()]
    return "\n".join(lines) + "\n"


def write_report(
    folder,
    *,
    subtractor,
    result,
    names=None,
    band_gap=None,
    maps=None,
    settings=None,
    title="sklearn-zlp report",
):
    """Write the results of a subtraction as an HTML report, PNGs, CSV, npz and JSON.

    The folder receives ``report.html`` (one self-contained page: images
    embedded as data URIs, no external CSS or scripts, a table of numbers per
    spectrum, the fit's summary, the settings and versions), the figures as
    PNG files, CSV tables whose column names carry their units
    (``per_spectrum.csv``, ``replicas.csv``, ``subtracted.csv``, ``zlp.csv``),
    ``README.txt`` describing every file and column, ``results.npz`` with every
    array and ``settings.json``. A value that failed is NaN with its status
    beside it, as in the result objects; nothing is replaced by a number.

    Parameters
    ----------
    folder : str or Path
        Where to write (created if needed; files of the same names are
        replaced).
    subtractor : ZLPSubtractor
        The fitted subtractor.
    result : ZLPSubtractionResult
        ``subtractor.subtract(X)`` (with ``keep_replicas=True`` the replicas
        go into ``results.npz`` too).
    names : list of str, default=None
        One unique name per spectrum of ``result`` (default ``spectrum_0``,
        ...).
    band_gap : BandGapResult, default=None
        :func:`~sklearn_zlp.physics.fit_band_gap` on the same spectra.
    maps : SpectralMaps, default=None
        :func:`~sklearn_zlp.maps.spectral_maps` of a spectrum image: its figure
        and arrays are added.
    settings : dict, default=None
        The job's settings (command-line options, files read), written to
        ``settings.json`` and the page.
    title : str, default="sklearn-zlp report"

    Returns
    -------
    paths : dict of str to Path
        Every file written, keyed by kind: ``"html"``, ``"json"``, ``"npz"``,
        ``"readme"``, ``"csv:<name>"`` and ``"png:<name>"``.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install "sklearn-zlp[plot]"``), before any
        file is written.

    See Also
    --------
    sklearn_zlp.plotting : the figures, one function each.
    """
    names = _check(subtractor, result, names, band_gap, maps)
    require_matplotlib()  # before anything is written
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"{folder} exists and is not a folder; choose another path."
        )
    folder.mkdir(parents=True, exist_ok=True)
    record = settings_record(
        title=title,
        settings=settings,
        subtractor=subtractor,
        result=result,
        band_gap=band_gap,
        maps=maps,
    )
    lo, hi = percentile_names(result.confidence_level)
    level = f"{result.confidence_level:.0%}"
    paths = {}
    rows, columns = per_spectrum_rows(result, names, band_gap, maps)
    paths["csv:per_spectrum"] = write_csv(folder / "per_spectrum.csv", rows, columns)
    replicas, replica_columns = replica_rows(subtractor.regressor_)
    paths["csv:replicas"] = write_csv(folder / "replicas.csv", replicas, replica_columns)
    tables = {
        "per_spectrum.csv": (list(columns), columns),
        "replicas.csv": (list(replica_columns), replica_columns),
    }
    wide = {
        "subtracted": {
            "median": result.subtracted_median,
            "band": result.subtracted_band,
        },
        "zlp": {
            "data": result.spectra,
            "zlp_median": result.zlp_median,
            "zlp_band": result.zlp_band,
        },
    }
    meaning = {
        "median": "median over the replicas of the ZLP-subtracted spectrum, counts",
        lo: f"lower edge of the subtracted spectrum's {level} band, counts",
        hi: f"upper edge of the subtracted spectrum's {level} band, counts",
        "data": "the recorded spectrum, counts",
        "zlp_median": "median over the replicas of the matched ZLP, counts",
        f"zlp_{lo}": f"lower edge of the matched ZLP's {level} band, counts",
        f"zlp_{hi}": f"upper edge of the matched ZLP's {level} band, counts",
    }
    for table_name, arrays in wide.items():
        header, table, quantities = spectra_table(
            result.energy, names, arrays, result.confidence_level
        )
        path = write_csv(folder / f"{table_name}.csv", header=header, table=table)
        paths[f"csv:{table_name}"] = path
        described = {"energy_eV": "energy loss of the channel, eV"}
        described.update({f"<spectrum>_{q}_counts": meaning[q] for q in quantities})
        described["<spectrum>"] = "each spectrum's name, in the order of per_spectrum.csv"
        tables[f"{table_name}.csv"] = (header, described)

    figures = report_figures(subtractor, result, names, band_gap, maps)
    files = dict(_FILES)
    for name, (png, caption) in figures.items():
        path = folder / f"{name}.png"
        path.write_bytes(png)
        paths[f"png:{name}"] = path
        files[f"{name}.png"] = caption
    np.savez_compressed(
        folder / "results.npz", **_arrays(result, names, band_gap, maps, rows)
    )
    paths["npz"] = folder / "results.npz"
    path = folder / "settings.json"
    path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    paths["json"] = path
    path = folder / "README.txt"
    path.write_text(_readme(title, record, files, tables))
    paths["readme"] = path
    texts = {"Fit summary": subtractor.summary()}
    if band_gap is not None:
        texts["Band-gap fits"] = band_gap.summary()
    if maps is not None:
        texts["Maps"] = maps.compute().summary()
    page = report_html(
        title=title,
        record=record,
        rows=rows,
        lo=lo,
        hi=hi,
        has_gap=band_gap is not None,
        figures=figures,
        files=files,
        texts=texts,
    )
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    paths["html"] = path
    return paths
