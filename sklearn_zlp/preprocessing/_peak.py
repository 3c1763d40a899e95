"""Where the zero-loss peak is: the lowest-energy clear peak, not the highest one.

In thin specimens the ZLP is the highest peak of a low-loss spectrum, but in thick
ones (t/lambda above ~1.5 with a broad ZLP) the plasmon can outgrow it. What is
always true is that the ZLP comes first: nothing but its own energy-gain tail lies
at lower energy. So the ZLP is taken to be the lowest-energy peak that stands out
clearly (at least ``_MIN_HEIGHT`` of the highest one above the baseline, and
falling on both sides by ``_MIN_PROMINENCE`` of its own height), found on a copy
despiked and lightly smoothed over a few channels. If that peak carries a
feature on its low-energy side (more intensity there than on the mirror-image
point of its high-energy side), the ZLP may be merged into it as a shoulder:
the spectrum is marked ``"zlp_ambiguous"`` rather than aligned on a plasmon.
"""

import contextlib
import contextvars
from typing import NamedTuple

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import (
    gaussian_filter1d,
    maximum_filter1d,
    median_filter,
    uniform_filter1d,
)
from scipy.signal import find_peaks, peak_prominences

from .._status import OK, register_status, status_array
from ._vertex import split_parabola_vertices

__all__ = [
    "ZLPPeaks",
    "fwhm_of_validated",
    "locate_zlp",
    "share_rows",
    "shared_peaks",
    "zlp_peaks",
]

# The peaks found in the block of a `shared_peaks` context: {key: (array, peaks)}.
_SHARED = contextvars.ContextVar("sklearn_zlp_shared_peaks", default=None)

ZLP_NOT_FOUND = register_status(
    "zlp_not_found",
    "no zero-loss peak inside the search window: its highest intensity lies on the "
    "window's edge, or no peak stands out from the noise.",
)
ZLP_AMBIGUOUS = register_status(
    "zlp_ambiguous",
    "the zero-loss peak cannot be told from an inelastic peak: the lowest-energy clear "
    "peak has a feature on its low-energy side (a ZLP merged into a stronger plasmon "
    "as a shoulder?).",
)

# A candidate peak stands at least this fraction of the highest one above the
# baseline (the energy-gain side holds nothing that strong but spikes, which the
# median filter removes) ...
_MIN_HEIGHT = 0.05
# ... and falls on both sides by at least this fraction of its own height (so that
# noise on the flank of a broad peak is no candidate, while a ZLP followed by a
# stronger plasmon with a valley below 3/4 of the ZLP's height is one).
_MIN_PROMINENCE = 0.25
# A chosen peak whose low-energy side exceeds its mirrored high-energy side by more
# than this fraction of its height has something before it: ambiguous. A real ZLP
# is narrower on its gain side than on its loss side, so it never comes close.
_MAX_LOW_SIDE_EXCESS = 0.25
# A rising flank whose slope has a second maximum this fraction of the first (with
# a plateau between them) climbs in two steps: a shoulder before the peak.
_MIN_STEP = 0.2
# A bump counts as real when it stands out by this many times the local noise.
_NOISE_UNITS = 5.0
# A ZLP narrower than this many channels (FWHM) is located by the parabola
# through ln I of its top three channels instead of the split-parabola fit.
_UNDERSAMPLED = 2.5
# Channels above this fraction of the top enter the split-parabola vertex fit.


class ZLPPeaks(NamedTuple):
    """The ZLP of every spectrum, in channels of its row.

    ``channel`` is the highest raw channel of the ZLP (-1 where not found),
    ``low``/``high`` the channels between which the ZLP stands alone (the
    minima that separate it from neighbouring peaks), ``status`` ``"ok"`` or a
    registered reason, and ``shoulder`` the channel of the strongest low-energy
    feature of an ambiguous peak (-1 otherwise).
    """

    channel: np.ndarray
    low: np.ndarray
    high: np.ndarray
    status: np.ndarray
    shoulder: np.ndarray


def _smoothed(spectra):
    """Despiked (median of 3 channels) and lightly smoothed (sigma 1 channel) copy."""
    return gaussian_filter1d(
        median_filter(spectra, size=(1, 3), mode="nearest"), 1.0, axis=1, mode="nearest"
    )


class shared_peaks(contextlib.ContextDecorator):
    """Within it, :func:`zlp_peaks` of the same array object is searched once.

    A fit checks the alignment, places the regions and measures the widths
    of the same validated spectra, each of which needs every spectrum's peak
    (measured on a 128 x 128 image: 10 searches, 12 of 31 s of a fit). The
    arrays are read-only there (no input is modified in place); the cache
    lives as long as the outermost block.
    """

    def _recreate_cm(self):
        # a decorator's every call (threads, recursion) gets a block of its own
        return type(self)()

    def __enter__(self):
        self._token = _SHARED.set({}) if _SHARED.get() is None else None
        return self

    def __exit__(self, *exc):
        if self._token is not None:
            _SHARED.reset(self._token)
        return False


def share_rows(whole, part, rows):
    """Inside :class:`shared_peaks`: ``part = whole[rows]`` has the peaks of those rows.

    A peak depends on its own spectrum only, so a batch of validated spectra
    takes its rows of the peaks already found on all of them.
    """
    shared = _SHARED.get()
    hit = None if shared is None else shared.get((id(whole), None))
    if hit is not None and hit[0] is whole:
        shared[(id(part), None)] = (part, ZLPPeaks(*(field[rows] for field in hit[1])))


def zlp_peaks(spectra, window=None):
    """Locate the ZLP channel of every row of validated ``spectra``.

    Parameters
    ----------
    spectra : ndarray of shape (n_spectra, n_channels)
    window : tuple of int (first, last), default=None
        Inclusive channel range to search; None is the whole row.

    Returns
    -------
    peaks : ZLPPeaks
    """
    shared = _SHARED.get()
    if shared is not None:
        key = (id(spectra), window)
        if key in shared and shared[key][0] is spectra:
            return shared[key][1]
        out = _search(spectra, window)
        shared[key] = (spectra, out)  # the reference keeps the id from being reused
        return out
    return _search(spectra, window)


def _search(spectra, window):
    n, n_channels = spectra.shape
    first, last = (0, n_channels - 1) if window is None else window
    smooth = _smoothed(spectra)
    noise = _local_noise(spectra)
    out = ZLPPeaks(
        np.full(n, -1),
        np.zeros(n, dtype=int),
        np.full(n, n_channels - 1),
        status_array(n),
        np.full(n, -1),
    )
    for i in range(n):
        channel, low, high, status, shoulder = _row_peak(
            spectra[i], smooth[i], noise[i], first, last
        )
        out.channel[i], out.low[i], out.high[i] = channel, low, high
        out.status[i], out.shoulder[i] = status, shoulder
    return out


def _row_peak(raw, smooth, noise, first, last):
    y = smooth[first : last + 1]
    base = float(np.min(y))
    span = float(np.max(y)) - base
    edge = (-1, first, last, ZLP_NOT_FOUND, -1)
    if not span > 0:
        return edge
    noise = noise[first : last + 1]
    peaks, _ = find_peaks(y)
    chosen = None
    if peaks.size:
        prominence, left, right = peak_prominences(y, peaks)
        height = y[peaks] - base
        # Relative to the highest peak and to its own height, and above the noise:
        # read noise on the empty gain side makes bumps of a fifth of a weak ZLP.
        clear = (
            (height >= _MIN_HEIGHT * span)
            & (prominence >= _MIN_PROMINENCE * height)
            & (prominence > _NOISE_UNITS * noise[peaks])
        )
        if clear.any():
            k = int(np.flatnonzero(clear)[0])  # the lowest-energy clear peak
        else:
            # None stands out from its neighbours (e.g. a search window cut
            # inside a broad ZLP): the highest, if it stands out from the noise.
            k = int(np.argmax(y[peaks]))
            if not prominence[k] > _NOISE_UNITS * noise[peaks[k]]:
                k = None
        if k is not None:
            chosen, low, high = int(peaks[k]), int(left[k]), int(right[k])
    if chosen is None:
        # No interior maximum that stands out: the highest channel, which lies on
        # an edge unless the spectrum is only noise.
        chosen, low, high = int(np.argmax(y)), 0, y.size - 1
        if 0 < chosen < y.size - 1:
            return edge
    # The raw maximum next to the smoothed one: on clean data the same channel.
    lo_raw, hi_raw = max(chosen - 1, low), min(chosen + 1, high)
    peak = first + lo_raw + int(np.argmax(raw[first + lo_raw : first + hi_raw + 1]))
    if peak in (first, last, 0, raw.size - 1):
        return edge
    shoulder = _low_side_feature(y, noise, chosen, low, base)
    status = OK if shoulder is None else ZLP_AMBIGUOUS
    shoulder = -1 if shoulder is None else first + shoulder
    # Beyond the window the raw spectrum is not searched, so the ZLP's extent
    # stops at its edges too.
    return peak, first + low, first + high, status, shoulder


def _local_noise(spectra):
    """Standard deviation of the noise of each raw channel of every row.

    From second differences of neighbouring channels (a smooth signal changes
    little from one channel to the next, and its slope cancels; the noise adds,
    sqrt(6) times its standard deviation): their mean absolute value over 31
    channels (sqrt(pi / 2) / sqrt(6) of it for Gaussian noise), never below the
    estimate from their median over the whole row, since a mean of few
    channels scatters and a bump judged against a low one looks real. First
    differences would count the steps of a broad peak's flank as noise (at 0.04
    FWHM per channel, 7% of its height: no peak would stand out). The smoothed
    copy peaks are found on has about half this noise.
    """
    step = np.abs(np.diff(spectra, n=2, axis=1))
    step = np.concatenate([step[:, :1], step, step[:, -1:]], axis=1)
    local = uniform_filter1d(step, 31, axis=1, mode="nearest") * (
        np.sqrt(np.pi / 2.0) / np.sqrt(6.0)
    )
    floor = np.median(step, axis=1, keepdims=True) / (0.6745 * np.sqrt(6.0))
    return np.maximum(local, floor)


def _low_side_feature(y, noise, chosen, low, base):
    """Channel of a feature on the low-energy side of peak ``chosen``, or None.

    Signs of something before the peak, all absent from a ZLP, whose gain side
    is its narrower, featureless side:

    - a lower peak (a local maximum at least ``_MIN_HEIGHT`` of the peak above
      the baseline that stands out by more than ``_NOISE_UNITS`` times the
      noise): a ZLP merged into a stronger plasmon with a shallow valley;
    - the low-energy side exceeds the mirror image of the high-energy side by
      ``_MAX_LOW_SIDE_EXCESS`` of the peak's height (and by more than
      ``_NOISE_UNITS`` times the noise);
    - the rising flank climbs in two steps (two maxima of the slope, the lower
      one at least ``_MIN_STEP`` of the higher, the dip between them deeper than
      the noise): a ZLP merged as a shoulder without a maximum of its own.
    """
    height = y[chosen] - base
    flank = y[low : chosen + 1]
    bumps, props = find_peaks(flank, prominence=0.0)
    strong = (flank[bumps] - base >= _MIN_HEIGHT * height) & (
        props["prominences"] > _NOISE_UNITS * noise[low + bumps]
    )
    if strong.any():
        return low + int(bumps[np.flatnonzero(strong)[0]])
    reach = min(chosen, y.size - 1 - chosen)
    if reach > 0:
        below = y[chosen - reach : chosen][::-1]  # channels chosen-1, chosen-2, ...
        # The mirror image within one channel either way: the true maximum lies
        # anywhere within half a channel of the smoothed one.
        mirror = maximum_filter1d(y[chosen : chosen + reach + 2], 3)[1 : reach + 1]
        excess = below - mirror
        noise_below = noise[chosen - reach : chosen][::-1]
        real = excess > np.maximum(
            _MAX_LOW_SIDE_EXCESS * height, _NOISE_UNITS * noise_below
        )
        if real.any():
            return chosen - 1 - int(np.argmax(np.where(real, excess, -np.inf)))
    slope = np.gradient(flank)
    # Noise of a difference of two smoothed channels: ~sqrt(2) x their noise.
    slope_noise = np.sqrt(2.0) * noise[low : chosen + 1]
    steps, props = find_peaks(slope, prominence=_MIN_STEP * max(slope.max(), 0.0))
    if steps.size >= 2:
        # The plateau between the two steepest climbs: the ZLP if it is a shoulder.
        top2 = np.sort(steps[np.argsort(props["prominences"])[-2:]])
        a, b = int(top2[0]), int(top2[1])
        dip = a + int(np.argmin(slope[a : b + 1]))
        depth = min(slope[a], slope[b]) - slope[dip]
        if depth > _NOISE_UNITS * slope_noise[dip]:
            return low + dip
    return None


def _log_parabola_vertex(energy_axis, spectrum, peak):
    """Vertex of the parabola through ln I of channel ``peak`` and its neighbours."""
    top = spectrum[peak]
    y0, y1, y2 = np.log(np.clip(spectrum[peak - 1 : peak + 2], top * 1e-6, None))
    curvature = y0 - 2.0 * y1 + y2
    offset = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
    step = 0.5 * (energy_axis[peak + 1] - energy_axis[peak - 1])
    return float(energy_axis[peak] + np.clip(offset, -1.0, 1.0) * step)


def _refine(energy_axis, spectrum, peak, low, high, method, undersampled=False):
    """Sub-channel position of the ZLP maximum at raw channel ``peak``."""
    if method == "parabola":
        y0, y1, y2 = spectrum[peak - 1 : peak + 2]
        curvature = y0 - 2.0 * y1 + y2
        offset = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
        step = 0.5 * (energy_axis[peak + 1] - energy_axis[peak - 1])
        return energy_axis[peak] + offset * step
    if method == "split":
        if undersampled:
            # Below ~2.5 channels per FWHM the split fit needs channels from the
            # tails, not the core (measured at FWHM 2 channels: up to 0.6
            # channel off, changing with the sampling phase); the parabola
            # through ln I of the top three channels is exact for a Gaussian
            # core (0.2 channel off for the asymmetric synthetic ZLP).
            return _log_parabola_vertex(energy_axis, spectrum, peak)
        return split_parabola_vertices(
            energy_axis, spectrum[None], np.array([peak]), np.array([low]), np.array([high])
        )[0]
    lo, hi = max(peak - 4, 0), min(peak + 5, spectrum.size)
    spline = CubicSpline(energy_axis[lo:hi], spectrum[lo:hi])
    roots = spline.derivative().roots(extrapolate=False)
    left, right = energy_axis[peak - 1], energy_axis[peak + 1]
    roots = roots[(roots >= left) & (roots <= right)]
    return energy_axis[peak] if roots.size == 0 else roots[np.argmax(spline(roots))]


def locate_zlp(spectra, energy_axis, method="split", window=None, peaks=None):
    """Sub-channel ZLP positions of validated spectra; NaN where the status is not ok.

    Returns
    -------
    positions : ndarray of shape (n_spectra,)
    peaks : ZLPPeaks
        The channels found (pass them in ``peaks`` to skip the search).
    """
    if peaks is None:
        peaks = zlp_peaks(spectra, window)
    positions = np.full(spectra.shape[0], np.nan)
    fwhm = fwhm_of_validated(spectra, energy_axis, peaks)
    found = np.flatnonzero(peaks.status == OK)
    if method == "split":
        # the split-parabola fits of every well-sampled peak at once
        channel = 0.5 * (
            energy_axis[peaks.channel[found] + 1] - energy_axis[peaks.channel[found] - 1]
        )
        sampled = found[~(fwhm[found] < _UNDERSAMPLED * channel)]
        positions[sampled] = split_parabola_vertices(
            energy_axis,
            spectra[sampled],
            peaks.channel[sampled],
            peaks.low[sampled],
            peaks.high[sampled],
        )
        found = np.setdiff1d(found, sampled)
    for i in found:
        peak = int(peaks.channel[i])
        channel = 0.5 * (energy_axis[peak + 1] - energy_axis[peak - 1])
        positions[i] = _refine(
            energy_axis,
            spectra[i],
            peak,
            int(peaks.low[i]),
            int(peaks.high[i]),
            method,
            undersampled=bool(fwhm[i] < _UNDERSAMPLED * channel),
        )
    return positions, peaks


def fwhm_of_validated(spectra, energy_axis, peaks=None):
    """Full width at half maximum of each spectrum's ZLP, from validated input.

    For callers that validated their input once at their public entry point;
    each width depends on its own spectrum only. The ZLP is the peak
    :func:`zlp_peaks` finds (not the highest one); its half-maximum crossings
    are interpolated linearly between channels and must lie between the minima
    that separate it from its neighbours, else (and where no ZLP is found) the
    width is NaN.
    """
    if peaks is None:
        peaks = zlp_peaks(spectra)
    widths = np.full(spectra.shape[0], np.nan)
    for i, y in enumerate(spectra):
        peak = int(peaks.channel[i])
        if peak < 0:
            continue
        low, high = int(peaks.low[i]), int(peaks.high[i])
        half = 0.5 * y[peak]
        below = np.flatnonzero(y[low:peak] < half)
        above = np.flatnonzero(y[peak : high + 1] < half)
        if below.size == 0 or above.size == 0:
            continue
        l1 = low + below[-1]
        r1 = peak + above[0]
        left = np.interp(half, [y[l1], y[l1 + 1]], energy_axis[l1 : l1 + 2])
        right = np.interp(half, [y[r1], y[r1 - 1]], [energy_axis[r1], energy_axis[r1 - 1]])
        widths[i] = right - left
    return widths
