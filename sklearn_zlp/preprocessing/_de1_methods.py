"""The dE_I methods of :func:`~sklearn_zlp.preprocessing.estimate_de1` on smoothed spectra.

Each takes validated, smoothed spectra whose ZLP sits at 0 eV and returns one
dE_I per spectrum (NaN where the method finds no edge); the plausibility of
what they find is judged in ``_plausibility``.
"""

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ._peak import fwhm_of_validated

# ln I is taken of max(I_smoothed, _LOG_FLOOR * max(I_smoothed)): dark-corrected
# tails are negative or zero, and a floor relative to the peak works for counts
# and for normalised intensities alike.
_LOG_FLOOR = 1e-7


# --------------------------------------------------------------------------- helpers
def _dispersion(energy):
    return float((energy[-1] - energy[0]) / (energy.size - 1))


def _smooth(spectra, energy, smoothing):
    """Gaussian smoothing along the channels; ``smoothing`` is the sigma in eV."""
    sigma = smoothing / _dispersion(energy)
    if sigma < 0.3:  # below a third of a channel the kernel is a delta
        return np.array(spectra, dtype=np.float64)
    return gaussian_filter1d(spectra, sigma, axis=-1, mode="nearest")


def _log(smoothed):
    floor = _LOG_FLOOR * np.max(smoothed, axis=-1, keepdims=True)
    floor = np.where(floor > 0, floor, np.finfo(np.float64).tiny)
    return np.log(np.maximum(smoothed, floor))


def _run_length(energy, smoothing):
    """Channels a condition must hold for to count as persistent, not noise."""
    return max(3, int(np.ceil(2.0 * smoothing / _dispersion(energy))))


def _first_persistent(condition, start, run):
    """First index >= start from which ``condition`` holds for ``run`` channels."""
    tail = condition[start:].astype(int)
    if tail.size == 0:
        return None
    run = min(run, tail.size)
    held = np.convolve(tail, np.ones(run, dtype=int), mode="valid") == run
    hits = np.flatnonzero(held)
    return start + int(hits[0]) if hits.size else None


# The ZLP tail's power law is measured between these multiples of the smoothed
# FWHM: past the core's bend (the knee of make_synthetic_eels' ZLPs lies at
# 2.0-2.5 smoothed FWHM), before most band gaps.
_TAIL_SEGMENT = (2.5, 3.5)


def _half_max_index(row, peak):
    """First channel beyond ``peak`` where ``row`` falls below half its maximum."""
    below = np.flatnonzero(row[peak:] < 0.5 * row[peak])
    return peak + int(below[0]) if below.size else row.size - 1


def _zero_crossing(energy, derivative, start):
    """Energy where ``derivative`` first becomes >= 0 at or after ``start`` (interpolated)."""
    hits = np.flatnonzero(derivative[start:] >= 0)
    if hits.size == 0:
        return np.nan, None
    j = start + int(hits[0])
    if j == 0 or derivative[j - 1] >= 0:
        return float(energy[j]), j
    d0, d1 = derivative[j - 1], derivative[j]
    return float(energy[j - 1] + (energy[j] - energy[j - 1]) * (-d0) / (d1 - d0)), j


# --------------------------------------------------------------------------- dE_I
def _de1_derivative(smoothed, energy):
    out = np.full(smoothed.shape[0], np.nan)
    ends = np.full(smoothed.shape[0], smoothed.shape[1] - 1)
    for i, row in enumerate(smoothed):
        peak = int(np.argmax(row))
        start = _half_max_index(row, peak)
        out[i], end = _zero_crossing(energy, np.gradient(row, energy), start)
        if end is not None:
            ends[i] = end
    return out, ends


def _steepest(log_row, energy, peak, stop, *, loglog=False):
    """Channel of the steepest fall of ln I (against E or ln E) from the half maximum."""
    start = _half_max_index(np.exp(log_row - log_row.max()), peak)
    stop = max(stop, start + 1)
    slope = np.gradient(log_row, energy)
    if loglog:
        slope = slope * np.clip(energy, 0.0, None)
    return start + int(np.argmin(slope[start:stop]))


def _de1_curvature(smoothed, energy):
    _, ends = _de1_derivative(smoothed, energy)
    log_s = _log(smoothed)
    out = np.full(smoothed.shape[0], np.nan)
    for i, row in enumerate(log_s):
        peak = int(np.argmax(row))
        end = int(ends[i])
        start = _steepest(row, energy, peak, end, loglog=True)
        if end - start < 3 or energy[start] <= 0:
            continue
        # Kneedle (Satopaa et al. 2011) on ln I against ln E: a power-law ZLP tail is
        # a straight line there, so the knee marks where the tail stops being a
        # power law because inelastic intensity comes in.
        x = np.log(energy[start : end + 1])
        y = row[start : end + 1]
        xs = (x - x[0]) / (x[-1] - x[0])
        span = y[0] - y[-1]
        if not span > 0:
            continue
        ys = (y - y[-1]) / span
        out[i] = float(energy[start + int(np.argmax((1.0 - xs) - ys))])
    return out


def _de1_tail(smoothed, energy, smoothing, tolerance):
    """Where each spectrum leaves the power law of its own ZLP tail.

    The slope of ln I against ln E is fitted over ``_TAIL_SEGMENT`` FWHM; dE_I
    is the first energy past that segment from which the spectrum's log-log
    slope exceeds the tail's by more than ``tolerance`` of its magnitude (falls
    less steeply) for a run of channels: the "ratio" method with the tail's
    power law in place of a vacuum spectrum. A spectrum that already deviates
    where the search starts has inelastic intensity inside the segment: NaN
    (its status then says the onset lies too near the peak).
    """
    fwhm = fwhm_of_validated(smoothed, energy)
    log_s = _log(smoothed)
    positive = energy > 0
    out = np.full(smoothed.shape[0], np.nan)
    slope = np.full(smoothed.shape, np.nan)
    slope[:, positive] = np.gradient(log_s[:, positive], np.log(energy[positive]), axis=1)
    run = _run_length(energy, smoothing)
    low, high = _TAIL_SEGMENT
    for i in np.flatnonzero(np.isfinite(fwhm)):
        segment = np.flatnonzero((energy >= low * fwhm[i]) & (energy <= high * fwhm[i]))
        if segment.size < 3:
            continue
        power = np.polyfit(np.log(energy[segment]), log_s[i, segment], 1)[0]
        start = int(segment[-1])
        deviates = (slope[i] - power) > tolerance * abs(power)
        j = _first_persistent(deviates, start, run)
        if j is not None and j > start:
            out[i] = float(energy[j])
    return out


def _de1_ratio(smoothed, energy, vacuum, smoothing, tolerance):
    v_smooth = _smooth(vacuum.mean(axis=0), energy, smoothing)
    v_log = _log(v_smooth[None])[0]
    v_slope = np.gradient(v_log, energy)
    v_peak = int(np.argmax(v_log))
    # The vacuum's core edge: its steepest fall while above 1e-4 of its maximum.
    above = np.flatnonzero(v_smooth[v_peak:] < 1e-4 * v_smooth[v_peak])
    stop = v_peak + int(above[0]) if above.size else energy.size - 1
    start = _steepest(v_log, energy, v_peak, stop)
    run = _run_length(energy, smoothing)
    s_slope = np.gradient(_log(smoothed), energy, axis=1)
    out = np.full(smoothed.shape[0], np.nan)
    for i, slope in enumerate(s_slope):
        # One-sided: inelastic intensity makes the specimen fall *less* steeply than
        # the vacuum ZLP; a specimen that falls faster is a broader/narrower core,
        # not an inelastic onset.
        deviates = (slope - v_slope) > tolerance * np.abs(v_slope)
        j = _first_persistent(deviates, start, run)
        if j is not None:
            out[i] = float(energy[j])
    return out
