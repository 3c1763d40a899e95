"""Accuracy benchmark: the validation zoo through the public API at default settings.

Run from the repository root (a script, not a test)::

    .venv/bin/python benchmarks/bench_accuracy.py              # every case, defaults
    .venv/bin/python benchmarks/bench_accuracy.py --quick      # fewer replicas/epochs/seeds
    .venv/bin/python benchmarks/bench_accuracy.py --cases reference_ws2like drift_0p5_fwhm

Every case of :func:`sklearn_zlp.datasets.validation_zoo` is generated with its
seeds and run through the pipeline a user would write, at default settings::

    ZeroLossAligner(energy_axis=E).fit(spectra and vacuum)      (unless the case skips it)
    ZLPSubtractor(energy_axis=E_aligned,
                  regions=ZLPRegionMask(vacuum=aligned_vacuum)  (cases with vacuum spectra)
                  ).fit(aligned)
    for batch in subtractor.subtract_batches(aligned):
        fit_band_gap(E_aligned, batch, read_noise=subtractor.read_noise_)
        batch.t_over_lambda, batch.t_over_lambda_band      # t/lambda and its 68% band

(vacuum leave-one-out: ``ZLPSubtractor(mode="vacuum")`` on all spectra but one and
``predict_zlp`` of that one; text cases: a two-column text file without header
read by ``read_spectra``; the image case passes a (ny, nx, n_channels) image to
``fit_band_gap``). ``--quick`` keeps the pipeline but gives the default ensemble
fewer replicas and epochs (``set_params``), and runs fewer seeds.

It prints one row per case, seed and quantity: the truth, the estimate (median
over the case's spectra of each spectrum's replica median), the median 68%
interval, how many intervals hold the truth, the statuses the package returned
(``(none)`` where the result has no status field; ``error: ...`` where a step
raised), the warnings raised and the time. Then, per case and quantity over all
seeds, the verdict of :meth:`~sklearn_zlp.datasets.ZooExpectation.judge`:
whether the stated expectation is met. Many cases do not meet it on the code as
it is: that is what the zoo is for.

The header prints the CPU, the load average and the settings; the machine may
be shared, so times are indicative.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see DESIGN.md

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sklearn_zlp import ZeroLossAligner, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import validation_zoo
from sklearn_zlp.io import read_spectra
from sklearn_zlp.physics import fit_band_gap, summarize, t_over_lambda
from sklearn_zlp.subtraction import default_regressor

# _machine.py beside this file, whether run as a script or loaded by path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, load_average

QUICK = {"replicas": 20, "epochs": 1000, "seeds": 2}
# test-only: the smallest networks that run the whole pipeline in seconds
TINY = {
    "replicas": 4,
    "epochs": 30,
    "seeds": 1,
    "hidden": (4,),
    "activations": ("sigmoid",),
}
_UNITS = {"text_kev": "keV", "text_mev": "meV"}


# ---------------------------------------------------------------------- settings
def regressor_for(settings):
    """The ensemble ZLPSubtractor fits: None (its default) or the default, made smaller."""
    if settings.get("replicas") is None and settings.get("epochs") is None:
        return None  # exactly what a user gets: default_regressor, built in fit
    reg = default_regressor(n_jobs=settings["jobs"])
    changes = {"n_replicas": settings.get("replicas"), "max_epochs": settings.get("epochs")}
    if settings.get("hidden"):
        changes.update(
            hidden_layer_sizes=settings["hidden"], activations=settings["activations"]
        )
    return reg.set_params(**{k: v for k, v in changes.items() if v is not None})


# ---------------------------------------------------------------------- statuses
def statuses_of(obj, n, names=("status", "statuses", "e_bg_status")):
    """Per-estimate status strings read from a result, or "(none)" where it has none.

    The status fields are being added to the package (issue 11); this reads
    whatever is there: one string per estimate, or one per replica and
    estimate (summarised as the most common status other than "ok", with its
    share of the replicas).
    """
    for name in names:
        value = getattr(obj, name, None)
        if value is not None and not callable(value):
            break
    else:
        return ["(none)"] * n
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 0:
        return [str(arr)] * n
    if arr.ndim == 2 and arr.shape[1] == n and arr.shape[0] != 1:
        out = []
        for column in arr.T:
            bad = Counter(str(s) for s in column if str(s) != "ok")
            if not bad:
                out.append("ok")
            else:
                status, count = bad.most_common(1)[0]
                out.append(
                    f"{status} ({count}/{column.size})" if count < column.size else status
                )
        return out
    if arr.size == n:
        return [str(s) for s in arr.reshape(-1)]
    return [f"(status of shape {arr.shape})"] * n


def combine(*lists):
    """Per estimate: the first status that is neither "ok" nor "(none)", else "ok"/"(none)"."""
    out = []
    for items in zip(*lists, strict=True):
        flagged = [s for s in items if s not in ("ok", "(none)")]
        out.append(flagged[0] if flagged else ("ok" if "ok" in items else "(none)"))
    return out


# ---------------------------------------------------------------------- inputs
def case_inputs(case, data, folder):
    """Specimen spectra, vacuum spectra (or None) and axis as the user has them."""
    spectra = data.spectra
    vacuum = data.get("vacuum")
    source = case.steps["source"]
    if source == "arrays":
        return spectra, vacuum, data.energy
    # a two-column text file (energy, then one column per spectrum), no header
    rows = spectra.reshape(-1, spectra.shape[-1])
    columns = [data.energy, *rows] + ([] if vacuum is None else list(vacuum))
    path = Path(folder) / f"{case.name}.txt"
    np.savetxt(path, np.column_stack(columns), fmt="%.10g")
    read, energy, _ = read_spectra(path)
    n = rows.shape[0]
    return read[:n].reshape(spectra.shape), (None if vacuum is None else read[n:]), energy


def on_aligned_axis(component, raw_axis, aligned_axis, positions):
    """A true component of every spectrum resampled as the aligner resampled the data."""
    return np.stack(
        [
            np.interp(aligned_axis + p, raw_axis, row)
            for row, p in zip(component, positions, strict=True)
        ]
    )


# ---------------------------------------------------------------------- pipelines
class FittedSpecimen(NamedTuple):
    """What :func:`fit_specimen` returns."""

    subtractor: ZLPSubtractor  # fitted on ``aligned``
    aligned: np.ndarray  # (n_spectra, n_channels), as the subtractor saw them
    axis: np.ndarray  # their energy axis (the file's unit for text cases)
    energy: np.ndarray  # the axis as read, before alignment
    positions: np.ndarray  # each spectrum's ZLP position on the generated axis, eV
    shape: tuple  # the spectra's shape as the case gives them (images: 3-D)


def fit_specimen(case, data, settings, folder, seed):
    """Align (unless the case skips it) and fit a ZLPSubtractor as a user would.

    Returns a :class:`FittedSpecimen`.
    """
    steps = case.steps
    spectra, vacuum, energy = case_inputs(case, data, folder)
    X = spectra.reshape(-1, spectra.shape[-1])
    raw_axis = data.energy_ev
    if steps["align"]:
        both = X if vacuum is None else np.vstack([vacuum, X])
        aligner = ZeroLossAligner(energy_axis=energy).fit(both)
        aligned, axis = aligner.transform(X), aligner.energy_axis_
        positions = aligner.zlp_positions(X)
        vacuum = None if vacuum is None else aligner.transform(vacuum)
        if case.steps["source"] != "arrays":  # positions in the file's unit
            positions = positions / np.ptp(energy) * np.ptp(raw_axis)
    else:
        aligned, axis, positions = X, energy, np.zeros(X.shape[0])
    regions = ZLPRegionMask(vacuum=vacuum) if steps["vacuum"] else None
    sub = ZLPSubtractor(
        energy_axis=axis,
        regressor=regressor_for(settings),
        regions=regions,
        n_jobs=settings["jobs"],
        random_state=seed,
    ).fit(aligned)
    return FittedSpecimen(sub, aligned, axis, energy, positions, spectra.shape)


def run_specimen(case, data, settings, folder, seed):
    """The specimen pipeline; returns {expectation index: estimate arrays}."""
    steps = case.steps
    sub, aligned, axis, energy, positions, shape = fit_specimen(
        case, data, settings, folder, seed
    )
    image_shape = shape[:-1] if len(shape) == 3 else None
    n = aligned.shape[0]
    wanted = {e.quantity for e in case.expectations}
    found = {
        q: {
            "value": np.full(n, np.nan),
            "low": np.full(n, np.nan),
            "high": np.full(n, np.nan),
            "status": ["(none)"] * n,
        }
        for q in wanted
    }
    channels = {}
    medians = np.empty_like(aligned) if steps["band_gap_input"] == "image" else None
    # a per-spectrum status of the fit (the scored spectra are the training spectra)
    fit_status = statuses_of(sub, n, names=("status_", "statuses_"))
    for batch in sub.subtract_batches(aligned):
        rows = batch.rows
        batch_status = combine(fit_status[rows], statuses_of(batch, batch.spectra.shape[0]))
        if "e_bg" in wanted and medians is None:
            gap = fit_band_gap(axis, batch, read_noise=sub.read_noise_)
            _store(
                found["e_bg"],
                rows,
                gap.e_bg_median,
                gap.e_bg_band,
                combine(batch_status, statuses_of(gap, len(gap.e_bg_median))),
            )
        if medians is not None:
            medians[rows] = batch.subtracted_median
        if "t_over_lambda" in wanted:
            if getattr(batch, "t_over_lambda", None) is not None:
                # the subtractor's own estimate: data noise and ZLP replicas together
                median, band = batch.t_over_lambda, batch.t_over_lambda_band
                extra = statuses_of(batch, median.size, names=("t_over_lambda_status",))
            else:
                values = t_over_lambda(batch.spectra, batch.zlp)
                median, band = summarize(values, axis=0)
                extra = statuses_of(values, median.size)
            _store(
                found["t_over_lambda"],
                rows,
                median,
                band,
                combine(batch_status, extra),
            )
        if "inelastic" in wanted:
            channels.setdefault("median", []).append(batch.subtracted_median)
            channels.setdefault("band", []).append(batch.subtracted_band)
            channels.setdefault("status", []).extend(batch_status)
    if medians is not None:
        _image_gap(found["e_bg"], medians, image_shape, axis, sub.read_noise_)
    truth = {
        "e_bg": np.full(n, np.nan if data.e_bg is None else data.e_bg),
        "t_over_lambda": _true_thickness(data).reshape(-1),
    }
    out = {}
    for index, expectation in enumerate(case.expectations):
        q = expectation.quantity
        if q == "inelastic":
            true = on_aligned_axis(
                data.inelastic.reshape(n, -1),
                data.energy_ev,
                _in_ev(axis, data, energy),
                positions,
            )
            out[index] = _channel_estimates(
                expectation,
                _in_ev(axis, data, energy),
                true,
                np.concatenate(channels["median"]),
                np.concatenate(channels["band"], axis=1),
                channels["status"],
            )
        else:
            out[index] = {"truth": truth[q], **found[q]}
    return out


def _in_ev(axis, data, energy):
    """The aligned axis in eV (the text cases' axes may be in another unit)."""
    return axis * (np.ptp(data.energy_ev) / np.ptp(energy))


def _store(target, rows, median, band, status):
    target["value"][rows] = median
    target["low"][rows], target["high"][rows] = band
    target["status"][rows] = status


def _image_gap(target, medians, image_shape, axis, read_noise):
    """fit_band_gap on the median spectra as an image, as the user of the issue did."""
    image = medians.reshape(*image_shape, -1)
    gap = fit_band_gap(axis, image, read_noise=read_noise)
    n = medians.shape[0]
    if np.size(gap.e_bg_median) != n:
        what = (
            f"silent: a {image_shape} image gave {np.size(gap.e_bg_median)} band gaps "
            f"of shape {np.shape(gap.e_bg_median)} for {n} pixels"
        )
        target["status"][:] = [what] * n
        return
    target["value"][:] = np.reshape(gap.e_bg_median, -1)
    band = np.reshape(gap.e_bg_band, (2, -1))
    target["low"][:], target["high"][:] = band
    target["status"][:] = statuses_of(gap, n)


def _true_thickness(data):
    """ln(sum of what the specimen sent / sum of the ZLP) on the generated axis."""
    total = (data.noise_free - data.pedestal).sum(axis=-1)
    return np.log(total / data.zlp.sum(axis=-1))


def _channel_estimates(expectation, axis, truth, median, band, status):
    """Channel-by-channel estimates inside the expectation's energy ranges."""
    keep = np.zeros(axis.size, dtype=bool)
    for low, high in expectation.ranges():
        keep |= (axis >= low) & (axis <= high)
    n_spectra = truth.shape[0]
    return {
        "truth": truth[:, keep].reshape(-1),
        "value": median[:, keep].reshape(-1),
        "low": band[0][:, keep].reshape(-1),
        "high": band[1][:, keep].reshape(-1),
        "status": [s for s in status for _ in range(int(keep.sum()))],
        "units": n_spectra,
    }


def run_vacuum_loo(case, data, settings, folder, seed):
    """Vacuum mode: train on all spectra but ``held_out``, predict its ZLP."""
    spectra, _, energy = case_inputs(case, data, folder)
    held = case.steps["held_out"]
    aligner = ZeroLossAligner(energy_axis=energy).fit(spectra)
    aligned, axis = aligner.transform(spectra), aligner.energy_axis_
    positions = aligner.zlp_positions(spectra)
    sub = ZLPSubtractor(
        energy_axis=axis,
        mode="vacuum",
        regressor=regressor_for(settings),
        n_jobs=settings["jobs"],
        random_state=seed,
    ).fit(np.delete(aligned, held, axis=0))
    low, median, high = sub.predict_zlp(
        aligned[held : held + 1], quantiles=(0.16, 0.5, 0.84)
    )
    true = on_aligned_axis(
        data.zlp[held : held + 1], data.energy_ev, axis, positions[held : held + 1]
    )
    status = ["(none)"]
    return {
        i: _channel_estimates(e, axis, true, median, np.stack([low, high]), status)
        for i, e in enumerate(case.expectations)
    }


def run_case(case, k, settings, folder):
    """One seed of one case: estimates per expectation, time, warnings."""
    data = case.generate(k)
    seed = case.random_state(k)
    runner = run_vacuum_loo if case.steps["mode"] == "vacuum_loo" else run_specimen
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimates = runner(case, data, settings, folder, seed)
        except Exception as exc:  # every failure is a result here
            estimates = failed_estimates(case, data, f"error: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    found = [str(w.message).splitlines()[0] for w in caught]
    return {"estimates": estimates, "seconds": seconds, "warnings": found, "seed": seed}


def failed_estimates(case, data, status):
    """Every estimate of a case that raised: NaN with the error as its status."""
    n = int(np.prod(data.spectra.shape[:-1]))
    if case.steps["mode"] == "vacuum_loo":
        n = 1
    out = {}
    for index, e in enumerate(case.expectations):
        if e.quantity == "e_bg":
            truth = np.full(n, np.nan if data.e_bg is None else data.e_bg)
        elif e.quantity == "t_over_lambda":
            truth = _true_thickness(data).reshape(-1)
        else:
            truth = np.full(n, np.nan)  # one entry per spectrum: the run gave nothing
        nan = np.full(n, np.nan)
        out[index] = {
            "truth": truth,
            "value": nan,
            "low": nan,
            "high": nan,
            "status": [status] * n,
        }
    return out


# ---------------------------------------------------------------------- printing
def fmt_range(values, digits=3):
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "nan"
    lo, hi = finite.min(), finite.max()
    return (
        f"{lo:.{digits}f}"
        if np.isclose(lo, hi, rtol=0, atol=10**-digits / 2)
        else (f"{lo:.{digits}f}..{hi:.{digits}f}")
    )


def row_text(case, expectation, result, est):
    """One printed row: case, seed, quantity, truth, estimate, interval, covered, status."""
    truth, value = np.asarray(est["truth"]), np.asarray(est["value"])
    low, high = np.asarray(est["low"]), np.asarray(est["high"])
    covered = (low <= truth) & (truth <= high)
    finite = np.isfinite(value)
    scale = " (rel)" if expectation.relative else ""
    if expectation.quantity in ("zlp", "inelastic"):
        ratio = value / np.where(truth != 0, truth, np.nan)
        estimate = f"ratio {fmt_range(np.nanpercentile(ratio, [5, 95]) if finite.any() else [np.nan], 2)}"
        interval = "(per channel)"
        true_text = f"{truth.size} ch"
    else:
        estimate = fmt_range(np.nanmedian(value) if finite.any() else np.nan)
        if finite.sum() > 1:
            estimate += f" [{fmt_range(value)}]"
        half = np.nanmedian(0.5 * (high - low)) if finite.any() else np.nan
        interval = f"+-{half:.3f}" if np.isfinite(half) else "nan"
        true_text = fmt_range(truth)
    counts = Counter(est["status"])
    status = ", ".join(
        f"{s[:60]} x{c}" if c > 1 else s[:60] for s, c in counts.most_common(3)
    )
    n_warn = len(result["warnings"])
    warn = f"{n_warn} warn: {result['warnings'][0][:50]}" if n_warn else "0 warn"
    return (
        f"{case.name:<26} {result['seed']:>5} {expectation.quantity + scale:<14} "
        f"{true_text:<14} {estimate:<24} {interval:<13} {int(covered.sum()):>4}/{covered.size:<5} "
        f"{result['seconds']:7.1f}s  {status}  [{warn}]"
    )


def summarise(zoo, results):
    """Verdicts per case and expectation over all seeds."""
    lines = []
    for name, case in zoo.items():
        for index, expectation in enumerate(case.expectations):
            ests = [r["estimates"][index] for r in results[name]]
            pooled = {
                key: np.concatenate([np.asarray(e[key], dtype=float) for e in ests])
                for key in ("truth", "value", "low", "high")
            }
            status = [s for e in ests for s in e["status"]]
            units = sum(e.get("units", len(e["status"])) for e in ests)
            verdict = expectation.judge(
                pooled["truth"],
                pooled["value"],
                pooled["low"],
                pooled["high"],
                status,
                n_independent=units,
            )
            lines.append((name, expectation, verdict, len(ests)))
    return lines


def print_summary(lines, markdown=False):
    if markdown:
        print(
            "\n| case | quantity | seeds | n | flagged | errors | within tol | coverage "
            "(95% CI) | silent misses | verdict | why |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        print(
            f"\n{'case':<26} {'quantity':<14} {'seeds':>5} {'n':>6} {'flag':>5} {'err':>4} "
            f"{'within':>7} {'coverage (95% CI)':>20} {'silent':>7}  verdict: why"
        )
    for name, e, v, n_seeds in lines:
        cov = v["coverage"]
        ci = v["coverage_interval"]
        cov_text = "nan" if not np.isfinite(cov) else f"{cov:.2f} ({ci[0]:.2f}-{ci[1]:.2f})"
        within = "nan" if not np.isfinite(v["within"]) else f"{v['within']:.2f}"
        if markdown:
            print(
                f"| {name} | {e.quantity} | {n_seeds} | {v['n']} | {v['n_flagged']} | "
                f"{v['n_errors']} | {within} | {cov_text} | {v['n_silent_wrong']} | "
                f"{v['verdict']} | {v['reason'].replace('|', '/')} |"
            )
        else:
            print(
                f"{name:<26} {e.quantity:<14} {n_seeds:>5} {v['n']:>6} {v['n_flagged']:>5} "
                f"{v['n_errors']:>4} {within:>7} {cov_text:>20} {v['n_silent_wrong']:>7}  "
                f"{v['verdict']}: {v['reason']}"
            )
    met = Counter(v["verdict"] for *_, v, _ in lines)
    print(
        f"\n{met.get('MET', 0)} of {len(lines)} expectations met, "
        f"{met.get('NOT MET', 0)} not met, {met.get('UNCLEAR', 0)} unclear."
    )


def header(settings):
    cpu = cpu_model()
    load = load_average()
    print(
        f"CPU: {cpu}, {os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}"
    )
    ens = (
        "defaults (100 replicas x 3000 epochs)"
        if settings.get("replicas") is None
        else f"{settings['replicas']} replicas x {settings['epochs']} epochs"
    )
    print(
        f"Ensemble: {ens}, n_jobs={settings['jobs']}; seeds per case: "
        f"{settings['seeds'] or 'each case its own'}"
    )


# ---------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK['replicas']} replicas x {QUICK['epochs']} epochs, "
        f"{QUICK['seeds']} seeds per case (development; verdicts indicative)",
    )
    p.add_argument("--cases", nargs="+", metavar="NAME", help="run only these cases")
    p.add_argument(
        "--seeds", type=int, help="seeds per case (default: each case's n_seeds)"
    )
    p.add_argument("--jobs", type=int, default=1, help="n_jobs of the ensemble (default 1)")
    p.add_argument("--replicas", type=int, help="replicas of the ensemble (overrides)")
    p.add_argument("--epochs", type=int, help="epochs per replica (overrides)")
    p.add_argument(
        "--tiny",
        action="store_true",
        help="test-only: tiny networks, 4 replicas x 30 epochs, one seed",
    )
    p.add_argument("--per-spectrum", action="store_true", help="also print every estimate")
    p.add_argument("--markdown", action="store_true", help="summary as a markdown table")
    p.add_argument("--json", metavar="PATH", help="write every row and verdict as JSON")
    return p.parse_args(argv)


def settings_from(args):
    settings = {"jobs": args.jobs, "replicas": None, "epochs": None, "seeds": args.seeds}
    if args.quick:
        settings.update(replicas=QUICK["replicas"], epochs=QUICK["epochs"])
        settings["seeds"] = args.seeds or QUICK["seeds"]
    if args.tiny:
        settings.update(TINY, seeds=args.seeds or TINY["seeds"])
    if args.replicas:
        settings["replicas"] = args.replicas
        settings["epochs"] = settings["epochs"] or 3000
    if args.epochs:
        settings["epochs"] = args.epochs
        settings["replicas"] = settings["replicas"] or 100
    return settings


def main(argv=None):
    args = parse_args(argv)
    settings = settings_from(args)
    zoo = validation_zoo(args.cases)
    header(settings)
    print(
        f"\n{'case':<26} {'seed':>5} {'quantity':<14} {'truth':<14} {'estimate':<24} "
        f"{'68% interval':<13} {'covered':<10} {'time':>8}  status  [warnings]"
    )
    results = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        try:
            for name, case in zoo.items():
                for k in range(settings["seeds"] or case.n_seeds):
                    result = run_case(case, k, settings, folder)
                    results.setdefault(name, []).append(result)
                    for index, expectation in enumerate(case.expectations):
                        est = result["estimates"][index]
                        print(row_text(case, expectation, result, est), flush=True)
                        if args.per_spectrum and expectation.quantity in (
                            "e_bg",
                            "t_over_lambda",
                        ):
                            for t, v, lo, hi, s in zip(
                                est["truth"],
                                est["value"],
                                est["low"],
                                est["high"],
                                est["status"],
                                strict=True,
                            ):
                                print(
                                    f"    truth {t:.4f} estimate {v:.4f} [{lo:.4f}, {hi:.4f}] {s}"
                                )
        except KeyboardInterrupt:  # summarise the seeds that finished
            print("\nInterrupted: the summary covers the seeds that finished.", flush=True)
            zoo = {name: zoo[name] for name in results}
    lines = summarise(zoo, results)
    print_summary(lines, markdown=args.markdown)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (np.nan,) * 3
    print(
        f"Total {time.perf_counter() - start:.0f} s; load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if args.json:
        dump = {
            "settings": {k: v for k, v in settings.items() if k != "activations"},
            "verdicts": [
                {
                    "case": n,
                    "quantity": e.quantity,
                    "seeds": s,
                    **{k: v for k, v in verdict.items()},
                }
                for n, e, verdict, s in lines
            ],
            "runs": {
                name: [
                    {
                        "seed": r["seed"],
                        "seconds": r["seconds"],
                        "warnings": r["warnings"],
                        "estimates": {
                            str(i): {
                                k: np.asarray(v).tolist() if k != "status" else v
                                for k, v in est.items()
                            }
                            for i, est in r["estimates"].items()
                        },
                    }
                    for r in runs
                ]
                for name, runs in results.items()
            },
        }
        Path(args.json).write_text(json.dumps(dump, default=float, allow_nan=True))
    return lines


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
