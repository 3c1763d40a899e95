"""The package's main job on the bundled WS2 data, as run by ``make demo``.

Aligns the real spectra, fits the ZLP replica ensemble on the specimen spectra,
subtracts it and writes plots and tables with the 68% bands, and the HTML report
of :func:`sklearn_zlp.report.write_report` (its figures come from
:mod:`sklearn_zlp.plotting`).
"""

import csv
import shutil
import time
from pathlib import Path

import numpy as np

from .datasets import load_ws2
from .ensemble import ZLPEnsembleRegressor
from .physics import fit_band_gap
from .preprocessing import ZeroLossAligner, ZLPRegionMask, zlp_fwhm
from .report import write_report
from .subtraction import ZLPSubtractor

# Band-gap fit window on the WS2 spectra, bracketing the published gap of 1.6
# (+0.3/-0.2) eV. The automatic window of fit_band_gap finds the gap on most WS2
# spectra too (measured with a 24-replica ensemble: 4 of 6 ok at 1.65-1.83 eV),
# but on the others a quarter of the replicas end at a bound of E_bg or b in its
# narrower window (exciton peaks on the edge), and those spectra are NaN with
# status too_few_replicas_converged.
_WS2_GAP_WINDOW = (1.0, 3.0)


def run_demo(output="demo_output", *, show_progress=True, n_replicas=100, max_epochs=3000):
    """Align, fit, subtract the WS2 spectra; write plots and tables.

    Parameters
    ----------
    output : str or Path, default="demo_output"
        Folder to write into (created if needed).
    show_progress : bool, default=True
        Print what is being done and show a progress bar while training.
    n_replicas : int, default=100
        Monte Carlo replicas of the ZLP ensemble.
    max_epochs : int, default=3000
        Training epochs per replica.

    Returns
    -------
    folder : Path
        Absolute path of the folder holding ``aligned_spectra.png``,
        ``zlp_summary.csv``, ``aligned_spectra.csv``, ``zlp_fit.png``,
        ``subtracted_spectra.png``, ``band_gap.png`` (each fit drawn on its
        spectrum with E_bg, its 68% interval and its status), ``regions.csv``,
        ``physics.csv`` (band gap,
        onset exponent, probability of an indirect gap, share of replicas whose
        fit is ok and the fit's status, t/lambda with 68% intervals) and
        ``subtracted_spectra.csv``, and the folder ``report`` (``report.html``
        and the files of :func:`~sklearn_zlp.report.write_report`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def say(msg):
        if show_progress:
            print(msg, flush=True)

    start = time.perf_counter()
    folder = Path(output).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ws2 = load_ws2()
    names = ws2.names["vacuum"] + ws2.names["sample"]
    X = np.vstack([ws2.vacuum, ws2.sample])
    say(f"Loaded {len(names)} WS2 spectra (3 vacuum, 6 specimen), {X.shape[1]} channels.")

    aligner = ZeroLossAligner(energy_axis=ws2.energy, search_range=(-1.0, 1.0)).fit(X)
    aligned = aligner.transform(X)
    energy = aligner.energy_axis_
    fwhm = zlp_fwhm(aligned, energy)
    say(
        f"Aligned: every ZLP maximum now at 0 eV (axis {energy[0]:.3f} to {energy[-1]:.3f} eV)."
    )

    rows = []
    for name, raw, width, spectrum in zip(
        names, aligner.zlp_positions_, fwhm, aligned, strict=True
    ):
        rows.append(
            {
                "spectrum": name,
                "kind": "vacuum" if name.startswith("vacuum") else "specimen",
                "zlp_position_raw_eV": round(float(raw), 5),
                "fwhm_eV": round(float(width), 4),
                "zlp_max_counts": round(float(spectrum.max()), 1),
                "total_counts": round(float(spectrum.sum()), 1),
                "ln_N_tot": round(float(np.log(spectrum.sum())), 5),
            }
        )
    with open(folder / "zlp_summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    np.savetxt(
        folder / "aligned_spectra.csv",
        np.column_stack([energy, aligned.T]),
        delimiter=",",
        header="energy_eV," + ",".join(names),
        comments="",
        fmt="%.10g",
    )

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    colours = {"vacuum": "tab:blue", "specimen": "tab:red"}
    for row, spectrum in zip(rows, aligned, strict=True):
        kw = {"color": colours[row["kind"]], "lw": 0.8, "alpha": 0.8}
        axes[0].semilogy(energy, np.clip(spectrum, 1.0, None), **kw)
        axes[1].plot(energy, spectrum / spectrum.max(), marker=".", ms=3, **kw)
    for kind, colour in colours.items():
        axes[0].plot([], [], color=colour, label=kind)
    axes[0].set(
        xlim=(-2, 20),
        xlabel="Energy loss (eV)",
        ylabel="Counts (log)",
        title="WS2 spectra aligned at the ZLP maximum",
    )
    axes[0].legend()
    axes[1].axvline(0.0, color="k", lw=0.6, ls="--")
    axes[1].set(
        xlim=(-0.6, 0.8),
        xlabel="Energy loss (eV)",
        ylabel="Counts / maximum",
        title=f"ZLP core, FWHM {np.nanmin(fwhm):.3f} to {np.nanmax(fwhm):.3f} eV",
    )
    fig.savefig(folder / "aligned_spectra.png", dpi=120)
    plt.close(fig)

    header = (
        f"{'spectrum':<11}{'kind':<10}{'raw ZLP (eV)':>13}{'FWHM (eV)':>11}{'ln N_tot':>10}"
    )
    say("\n" + header)
    for row in rows:
        say(
            f"{row['spectrum']:<11}{row['kind']:<10}{row['zlp_position_raw_eV']:>13.4f}"
            f"{row['fwhm_eV']:>11.3f}{row['ln_N_tot']:>10.4f}"
        )
    _subtract_and_report(
        folder,
        aligned,
        energy,
        names,
        fwhm,
        say=say,
        show_progress=show_progress,
        n_replicas=n_replicas,
        max_epochs=max_epochs,
    )
    say(f"\nDone in {time.perf_counter() - start:.1f} s. Outputs are in {folder}:")
    for name in (
        "aligned_spectra.png",
        "zlp_fit.png",
        "subtracted_spectra.png",
        "band_gap.png",
        "report/report.html",
        "zlp_summary.csv",
        "regions.csv",
        "physics.csv",
        "aligned_spectra.csv",
        "subtracted_spectra.csv",
    ):
        say(f"  {folder / name}")
    return folder


def _subtract_and_report(
    folder, aligned, energy, names, fwhm, *, say, show_progress, n_replicas, max_epochs
):
    """Fit the ZLP ensemble on the specimen spectra, subtract, plot, tabulate."""
    vacuum, sample = aligned[:3], aligned[3:]
    sample_names = names[3:]
    regressor = ZLPEnsembleRegressor(
        n_replicas=n_replicas,
        max_epochs=max_epochs,
        lr=0.1,
        reject_outliers=3.0,
        n_jobs=-1,
        random_state=0,
        verbose=int(show_progress),
    )
    subtractor = ZLPSubtractor(
        energy_axis=energy,
        regressor=regressor,
        regions=ZLPRegionMask(vacuum=vacuum),
        random_state=0,
    )
    say(
        f"\nTraining {n_replicas} replicas x {max_epochs} epochs on the 6 specimen "
        "spectra (region I, region-III pseudo-data, monotonic region II)..."
    )
    t0 = time.perf_counter()
    subtractor.fit(sample)
    reg = subtractor.regressor_
    say(
        f"Trained in {time.perf_counter() - t0:.1f} s; kept {reg.n_replicas_} of "
        f"{n_replicas} replicas ({reg.n_rejected_} chi^2 outliers dropped); detector "
        f"read noise measured on the spectra: {subtractor.read_noise_:.0f} counts per "
        "channel."
    )
    # quality figures: chi^2 per replica and spectrum, held-out residuals in region I
    say("\n" + subtractor.summary())
    # Six spectra: their replicas fit in memory (28 MB at 100 replicas), and the
    # band gap, the report and its figures use them. Many spectra would go
    # through subtract_batches instead, at bounded memory.
    result = subtractor.subtract(sample, keep_replicas=True)
    median, (low, high) = result.subtracted_median, result.subtracted_band
    zlp_median = result.zlp_model_median

    rows = []
    window = (energy >= 0) & (energy <= 1)
    for i, name in enumerate(sample_names):
        error = np.abs(zlp_median[i, window] / sample[i, window] - 1)
        rows.append(
            {
                "spectrum": name,
                "dE_I_eV": round(float(result.de1[i]), 3),
                "dE_II_eV": round(float(result.de2[i]), 3),
                "dE_0_eV": round(float(result.de0[i]), 3),
                "fwhm_eV": round(float(fwhm[3 + i]), 4),
                "replicas_kept": reg.n_replicas_,
                "zlp_worst_error_0_1eV": round(float(error.max()), 4),
            }
        )
    with open(folder / "regions.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    columns = [energy]
    header = ["energy_eV"]
    for i, name in enumerate(sample_names):
        columns += [median[i], low[i], high[i]]
        header += [f"{name}_median", f"{name}_p16", f"{name}_p84"]
    np.savetxt(
        folder / "subtracted_spectra.csv",
        np.column_stack(columns),
        delimiter=",",
        header=",".join(header),
        comments="",
        fmt="%.8g",
    )

    say(
        f"\n{'spectrum':<11}{'dE_I (eV)':>10}{'dE_II (eV)':>11}{'FWHM (eV)':>10}"
        f"{'ZLP err 0-1 eV':>16}"
    )
    for row in rows:
        say(
            f"{row['spectrum']:<11}{row['dE_I_eV']:>10.2f}{row['dE_II_eV']:>11.2f}"
            f"{row['fwhm_eV']:>10.3f}{row['zlp_worst_error_0_1eV']:>16.3f}"
        )
    gap = _physics_report(folder, energy, sample_names, subtractor, result, say=say)
    settings = {
        "job": "sklearn-zlp demo",
        "data": "bundled WS2 spectra (sklearn_zlp.datasets.load_ws2): 6 specimen, "
        "3 vacuum (region edges)",
        "alignment": {"search_range_eV": [-1.0, 1.0]},
        "n_replicas": n_replicas,
        "max_epochs": max_epochs,
        "band_gap": {"window_eV": list(_WS2_GAP_WINDOW), "read_noise": "measured"},
    }
    paths = write_report(
        folder / "report",
        subtractor=subtractor,
        result=result,
        names=list(sample_names),
        band_gap=gap,
        settings=settings,
        title="sklearn-zlp demo: WS2 specimen spectra",
    )
    # the report's figures, under the names the demo has always used
    for kind, name in (
        ("png:zlp_fit", "zlp_fit.png"),
        ("png:subtracted", "subtracted_spectra.png"),
        ("png:band_gap", "band_gap.png"),
    ):
        shutil.copyfile(paths[kind], folder / name)


def _physics_report(folder, energy, names, subtractor, result, *, say):
    """Band gap and t/lambda of every spectrum from the replicas, as a table.

    Returns the band-gap fit (for the report and its figure).
    """
    # the result itself: its replicas are replicas (an array would need replica_axis=0)
    gap = fit_band_gap(
        energy,
        result,
        window=_WS2_GAP_WINDOW,
        read_noise=subtractor.read_noise_,
    )
    t_median, (t_low, t_high) = result.t_over_lambda, result.t_over_lambda_band
    rows = []
    for j, name in enumerate(names):
        rows.append(
            {
                "spectrum": name,
                "E_bg_eV": round(float(gap.e_bg_median[j]), 3),
                "E_bg_p16_eV": round(float(gap.e_bg_band[0, j]), 3),
                "E_bg_p84_eV": round(float(gap.e_bg_band[1, j]), 3),
                "b": round(float(gap.b_median[j]), 3),
                "p_indirect": round(float(gap.p_indirect[j]), 3),
                "fraction_indirect": round(float(gap.fraction_indirect[j]), 3),
                "replicas_ok": round(float(gap.fraction_ok[j]), 3),
                "status": gap.status[j],
                "t_over_lambda": round(float(t_median[j]), 4),
                "t_over_lambda_p16": round(float(t_low[j]), 4),
                "t_over_lambda_p84": round(float(t_high[j]), 4),
                # e.g. gain_side_floor: a floor of counts t/lambda takes for losses
                "t_over_lambda_status": result.t_over_lambda_status[j],
                "floor_t_over_lambda": round(
                    float(result.diagnostics["floor_t_over_lambda"][j]), 4
                ),
            }
        )
    with open(folder / "physics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _say_physics(rows, say)
    return gap


def _say_physics(rows, say):
    """The physics table, printed."""
    window = f"{_WS2_GAP_WINDOW[0]:g}-{_WS2_GAP_WINDOW[1]:g} eV"
    say(
        f"\nBand gap A (E - E_bg)^b + constant pedestal fitted per replica over {window}; "
        "p(ind): probability (equal prior odds) that the gap is indirect (b=1.5) rather "
        "than direct (b=0.5); ok: share of replicas whose fit is ok (the rest are NaN "
        "with a status); t/lambda = ln(I_total / I_ZLP) per replica (medians and 68% "
        "intervals) and its status (gain_side_floor: the spectrum sits on a floor of "
        "counts, a dark offset or detector tail, that adds 'floor' to t/lambda):"
    )
    say(
        f"{'spectrum':<11}{'E_bg (eV)':>22}{'b':>7}{'p(ind)':>8}{'ok':>6}  {'status':<10}"
        f"{'t/lambda':>22}  {'status':<16}{'floor':>7}"
    )
    for r in rows:
        say(
            f"{r['spectrum']:<11}{r['E_bg_eV']:>8.2f} [{r['E_bg_p16_eV']:.2f}, "
            f"{r['E_bg_p84_eV']:.2f}]{r['b']:>7.2f}{r['p_indirect']:>8.2f}"
            f"{r['replicas_ok']:>6.2f}  {r['status']:<10}"
            f"{r['t_over_lambda']:>8.3f} [{r['t_over_lambda_p16']:.3f}, "
            f"{r['t_over_lambda_p84']:.3f}]  {r['t_over_lambda_status']:<16}"
            f"{r['floor_t_over_lambda']:>7.3f}"
        )
