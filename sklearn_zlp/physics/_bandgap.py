"""Band-gap onset fitting on ZLP-subtracted replica spectra.

The single-scattering intensity just above a band gap follows
``I(E) = A (E - E_bg)^b`` for ``E > E_bg`` and vanishes below it, with
``b ~ 0.5`` for a direct and ``b ~ 1.5`` for an indirect gap (Rafferty & Brown
1998). Fitting it on every Monte Carlo replica of the subtracted spectra
carries the ZLP uncertainty into the band gap without error propagation
(Roest et al. 2021, section 4). A fit that cannot be trusted is NaN with a
status saying why (:mod:`sklearn_zlp._status`), never a bound of its range.
"""

import numpy as np

from .._noise import counting_variance
from .._replicas import replica_median
from .._status import status_array
from .._validation import as_real_scalar, check_energy_axis
from ._bandgap_batch import WindowRows, fit_windows, one_blas_thread
from ._bandgap_inputs import (
    as_replica_array,
    check_b,
    check_background,
    check_sigma,
    check_smooth,
    check_window,
    is_subtraction_result,
    unit_zlp,
)
from ._bandgap_result import BandGapResult
from ._bandgap_spectrum import (
    NO_ONSET,
    TOO_FEW_POINTS,
    SpectrumRows,
    n_parameters,
    spectrum_result,
)
from ._bandgap_window import auto_window, refine_window
from ._cherenkov import check_cherenkov
from ._onset_fit import B_DIRECT, B_INDIRECT

__all__ = ["fit_band_gap"]

DEFAULT_BACKGROUND = "constant"
# running-mean widths (eV) the automatic window tries in turn; one by default:
# a second, wider one finds weak onsets, right ones and wrong ones (see smooth)
DEFAULT_SMOOTH = (0.2,)


def _auto_window(energy, replicas, sigma, options, search_start, fwhm):
    """The automatic window of one spectrum, or None where it shows no onset."""
    return _auto_windows(
        energy, replicas[:, None], [sigma], options, [search_start], [fwhm]
    )[0]


def _auto_windows(energy, arr, sigmas, options, starts, fwhms):
    """The automatic window of every spectrum of arr (n_replicas, n_spectra, n_channels).

    The detected onset places a first window (:func:`._bandgap_window.auto_window`);
    the replica median's gap, fitted in it (all spectra's fits at once),
    places the final one (:func:`._bandgap_window.refine_window`). ``sigmas``,
    ``starts`` and ``fwhms`` hold each spectrum's counting noise, search
    start and resolution. None where a spectrum shows no onset.
    """
    n_spec = arr.shape[1]
    windows = [None] * n_spec
    jobs, fitted = [], []
    for j in range(n_spec):
        window, _ = auto_window(
            energy,
            arr[:, j],
            sigmas[j],
            n_sigma=options["n_sigma"],
            smooth=options["smooth"],
            search_start=starts[j],
            search_end=options["search_end"],
            fwhm=fwhms[j],
        )
        windows[j] = window
        if window is None:
            continue
        mask = (energy >= window[0]) & (energy <= window[1])
        if mask.sum() < n_parameters(options["b"], options["background"]) + 2:
            continue
        fwhm = fwhms[j]
        jobs.append(
            WindowRows(
                int(np.argmax(mask)),
                int(mask.sum()),
                replica_median(arr[:, j, mask])[None],
                (1.0 / sigmas[j][mask])[None],
                None,
                fwhm if fwhm > 0 and options["uniform"] else None,
            )
        )
        fitted.append(j)
    fits = fit_windows(
        energy, jobs, [options["b"]], background=options["background"], margin_always=True
    )
    for j, (first,) in zip(fitted, fits, strict=True):
        e_bg = first.e_bg[0] if first.amplitude[0] > 0 else np.nan
        windows[j] = refine_window(
            energy, windows[j], e_bg, search_start=starts[j], fwhm=fwhms[j]
        )
    return windows


def fit_band_gap(
    energy,
    spectra,
    *,
    window=None,
    b=None,
    background=DEFAULT_BACKGROUND,
    replica_axis=None,
    sigma=None,
    read_noise=0.0,
    n_sigma=2.0,
    smooth=DEFAULT_SMOOTH[0],
    search_start=None,
    search_end=10.0,
    resolution=None,
    zlp=None,
    min_replica_fraction=0.8,
    beam_energy=None,
    refractive_index=None,
):
    """Fit the band-gap onset ``A (E - E_bg)^b`` on every replica and spectrum.

    Parameters
    ----------
    energy : array-like of shape (n_channels,)
        Energy loss of every channel in eV, strictly increasing.
    spectra : array-like or ZLPSubtractionResult
        ZLP-subtracted spectra in counts; any real dtype, nested lists and
        DataFrames work. 1-D is one spectrum, 2-D (n_spectra, n_channels)
        spectra without replicas. Replicas must be said to be replicas: pass
        ``replica_axis=0`` with an array of shape (n_replicas, n_spectra,
        n_channels) (or (n_replicas, n_channels) for one spectrum), or pass
        the result of ``ZLPSubtractor.subtract(X, keep_replicas=True)`` (or a
        batch of ``subtract_batches``) itself. A 3-D array without
        ``replica_axis`` is refused: it could as well be a spectrum image
        (ny, nx, n_channels), which is fitted as ``image.reshape(-1,
        n_channels)`` (maps: ``e_bg_median.reshape(ny, nx)``).
    window : tuple (e_min, e_max) in eV, default=None
        Fit range. The onset must lie inside it, with some channels of pure
        pedestal below it. None chooses it per spectrum (see Notes).
    b : float, "direct", "indirect" or None, default=None
        Fixed onset exponent (0.5 direct, 1.5 indirect), or None to fit it
        within [0.1, 4].
    background : {"constant", "linear"} or None, default="constant"
        Pedestal under the onset, fitted with it: a constant ``c0``, a line
        ``c0 + c1 (E - e_min) / (e_max - e_min)``, or None for none. A floor
        of counts below the gap (dark offset, thin-film or Cherenkov residue,
        a residue of the ZLP subtraction) otherwise reads as an onset at the
        window start.
    replica_axis : {0, 1} or None, default=None
        The axis of ``spectra`` that holds replicas (see ``spectra``).
    sigma : float or array-like broadcastable to the spectra, default=None
        Standard deviation of each channel in counts. None uses counting
        noise ``sqrt(max(I, 1) + read_noise^2)`` of the recorded counts I:
        those of the spectra before subtraction when ``spectra`` is a
        subtraction result (``result.spectra``), else the replica median. A
        subtracted spectrum keeps the noise of the ZLP's counts it lost; for
        arrays of subtracted spectra pass ``sigma=np.sqrt(np.maximum(recorded,
        1) + read_noise**2)``. Weighting by the subtracted counts alone
        overweights the onset's foot, where the ZLP's tail still holds most
        of the counts: on synthetic 1e6-count spectra (FWHM 0.3 eV, gap 1.6
        eV, true ZLP subtracted) E_bg came out +0.11 eV high in median and 22
        of 48 spectra were flagged, against +0.01 eV and 2 of 48 with the
        recorded counts' noise.
    read_noise : float, default=0.0
        Gaussian read noise in counts per channel, used when sigma is None.
    n_sigma : float, default=2.0
        Detection threshold of the automatic window.
    smooth : float or sequence of float, default=0.2
        Running-mean width and rise lag in eV of the automatic window; with
        several, each is tried in turn until one finds an onset. A wider width
        finds weaker onsets, right and wrong ones, which is why it is not the
        default. Measured on the zoo's subtractions (100 replicas x 3000
        epochs, 30 spectra each), ``smooth=(0.2, 0.4)`` against 0.2: a direct
        onset at 1e6 counts, which rises over a few tenths of an eV and then
        flattens (``direct_gap_sharp_zlp``), ok in 30 of 30 spectra, 27
        within 0.1 eV, against 3 ok and 27 "no_onset_in_window"; but on a very
        thin specimen (``thin_0p02``, t/lambda 0.02-0.04, indirect gap at 1.6
        eV) the wider width finds the rise only 0.4-1.2 eV above the gap, where
        the weak onset clears the noise, and the fit follows it: 22 ok, 21 of
        them 0.2-0.7 eV too high with bands that miss the truth, against 8 ok
        (7 such) and 19 "no_onset_in_window".
    search_start : float, default=None
        Lowest energy in eV at which the automatic window looks for the
        onset; below it residuals of the ZLP subtraction dominate. None uses
        ``max(0.8, 1.5 FWHM)`` with the FWHM of ``resolution`` or ``zlp``
        (0.8 eV without either). Lower it for gaps below about 1 eV with a
        narrow ZLP, or give a window.
    search_end : float, default=10.0
        Highest energy in eV at which the automatic window accepts the start
        of an onset. Above ~10 eV a rise is the flank of a plasmon, not a gap
        (on a very thin specimen, whose gap onset is below the noise, the
        first sustained rise is the plasmon's); such spectra get
        "no_onset_in_window". Raise it for wider gaps (LiF, rare-gas solids)
        or give a window.
    resolution : float, default=None
        FWHM in eV of a Gaussian energy resolution (e.g. the ZLP FWHM) that
        the onset is convolved with. Requires a uniform energy axis. Ignored
        (for the model) when ``zlp`` is given.
    zlp : array-like broadcastable to the spectra, default=None
        The zero-loss peak matched to every replica and spectrum in counts on
        the same (uniform) axis, e.g. ``subtract(X, keep_replicas=True).zlp``.
        The onset is convolved with it, normalised to unit area: the actual
        instrument response of the single-scattering signal. A Gaussian
        ``resolution`` misses the broader loss side and the tails of a real
        ZLP and leaves E_bg biased high. Measured with the true ZLP subtracted
        and given here (48 synthetic spectra, FWHM 0.3 eV, gap 1.6 eV, b 1.5):
        median E_bg error 0.00 eV at 1e6 and +0.02 eV at 1e7 counts, against
        -0.06 eV at both without a response. It is not the default for a
        subtraction result: with the result's own ``zlp`` (the model's
        replicas) the WS2 spectra (24 replicas) gave 0 of 6 spectra ok, their
        replicas split between "ok", "falling_below_gap" and "at_bound".
    min_replica_fraction : float in (0, 1], default=0.8
        Fraction of the replicas whose fit must be ok for a spectrum to get
        medians and bands.
    beam_energy, refractive_index : float, default=None
        Beam energy in keV and refractive index; when both are given, a
        UserWarning is raised if the Cherenkov condition holds.

    Returns
    -------
    result : BandGapResult
        Per-replica E_bg, b, A, chi^2 and status of shape (n_replicas,
        n_spectra), medians and 68% bands over the ok replicas, a status and a
        calibrated ``p_indirect`` per spectrum.

    Notes
    -----
    Failures. Each replica's fit is "ok" or NaN with one of the statuses
    "fit_failed", "no_onset_in_window" (the onset does not lower chi^2
    significantly below the pedestal alone), "pedestal_dominates" (a floor of
    counts explains the window as well as an onset), "falling_below_gap" (the
    residual below the gap falls significantly with energy, or a linear
    pedestal falls below zero: e.g. the tail of an under-subtracted ZLP),
    "at_bound" (E_bg within a channel or 1% of the window of its range, or b
    within 0.02 of 0.1 or 4).
    A spectrum gets NaN and a status when fewer than ``min_replica_fraction``
    of its replicas are ok, when its window holds too few channels
    ("too_few_points") or when the automatic window finds no onset.

    Automatic window: the first energy above ``search_start`` from which the
    smoothed replica median rises significantly (``n_sigma``) over every lag of
    ``smooth`` eV for a further 0.3 eV is the onset E_on (each width of
    ``smooth`` in turn, until one finds it); a flat floor rises only once and
    is skipped; a first such energy above ``search_end`` is no onset. The
    replica median's gap E_1, fitted in (E_on -
    0.8 eV - FWHM, E_on + 0.8 eV + FWHM), places the window (E_1 - 0.6 eV -
    FWHM, E_1 + 1 eV), clipped to the search range: wide enough below to pin
    the pedestal and the broadened foot of the onset, short enough above that
    the bias from where the onset leaves the power law stays below the noise (measurements in
    ``sklearn_zlp/physics/_bandgap_window.py``). On synthetic spectra its 68%
    band of E_bg covers the truth in 63-73% of seeds
    (``tests/test_bandgap_coverage.py``).

    Direct or indirect: fits with b fixed at 0.5 and at 1.5 on the replica
    median give ``delta = chi2_direct - chi2_indirect`` and the weighted squared
    distance ``D^2`` between the two fitted curves. To first order in the noise,
    ``delta`` is normal with mean ``+D^2`` if the gap is indirect and ``-D^2`` if
    direct, with variance ``v``: at least ``4 D^2 s^2`` (``s^2 = max(1, reduced
    chi^2 of the better fit)``, which discounts a model that does not describe
    the data), and with 4 or more replicas at least the square of the 68%
    half-width of the replicas' deltas (the ZLP uncertainty). ``p_indirect =
    expit(2 D^2 delta / v)`` is the posterior probability with equal prior odds.
    On synthetic spectra near the detection limit its reliability bins agree
    with the observed frequencies (``tests/test_bandgap_failures.py``).

    References
    ----------
    B. Rafferty and L. M. Brown, "Direct and indirect transitions in the region
    of the band gap using electron-energy-loss spectroscopy", Phys. Rev. B 58
    (1998) 10326. L. I. Roest et al., "Charting the low-loss region in electron
    energy loss spectroscopy with machine learning", Ultramicroscopy 222 (2021)
    113202, section 4.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.physics import fit_band_gap
    >>> e = np.linspace(0.0, 4.0, 161)
    >>> y = 500.0 * np.clip(e - 1.6, 0, None) ** 1.5
    >>> res = fit_band_gap(e, y, window=(1.0, 3.0))
    >>> round(float(res.e_bg_median[0]), 2), round(float(res.b_median[0]), 2)
    (1.6, 1.5)
    >>> res.status.tolist(), res.preferred
    (['ok'], ['indirect'])
    """
    if beam_energy is not None and refractive_index is not None:
        check_cherenkov(beam_energy, refractive_index)
    arr = as_replica_array(spectra, replica_axis)
    # a subtracted spectrum carries the counting noise of the recorded one
    recorded = (
        np.asarray(spectra.spectra, float) if is_subtraction_result(spectra) else None
    )
    # Convolving the model with a response needs a constant channel width.
    energy = check_energy_axis(
        energy,
        arr.shape[-1],
        name="energy",
        uniform=resolution is not None or zlp is not None,
    )
    b = check_b(b)
    background = check_background(background)
    read_noise = as_real_scalar(read_noise, name="read_noise")
    if not read_noise >= 0:
        raise ValueError(
            f"read_noise must be >= 0 counts per channel (a standard deviation), got "
            f"{read_noise}; pass e.g. ZLPSubtractor.read_noise_ or "
            "estimate_read_noise(spectra, energy)."
        )
    n_sigma = as_real_scalar(n_sigma, name="n_sigma")
    smooth = check_smooth(smooth)
    min_replica_fraction = as_real_scalar(min_replica_fraction, name="min_replica_fraction")
    if not 0 < min_replica_fraction <= 1:
        raise ValueError(
            f"min_replica_fraction must lie in (0, 1], got {min_replica_fraction}."
        )
    if resolution is not None:
        resolution = as_real_scalar(resolution, name="resolution")
        if not resolution > 0:
            raise ValueError(f"resolution must be a positive FWHM in eV, got {resolution}.")
    if window is not None:
        window = check_window(window, energy)
        n_in = int(np.sum((energy >= window[0]) & (energy <= window[1])))
        n_fit = n_parameters(b, background)
        if n_in < n_fit + 2:
            raise ValueError(
                f"the window ({window[0]:.4g}, {window[1]:.4g}) eV holds {n_in} "
                f"channels; the fit of {n_fit} parameters needs at least {n_fit + 2}. "
                "Widen the window."
            )
    # the replica median is needed on every channel only for the counting noise;
    # otherwise each spectrum's fit takes it on its window
    median = None
    if sigma is None:
        counts = replica_median(arr) if recorded is None else recorded
        median = counts if recorded is None else None
        sig = np.broadcast_to(np.sqrt(counting_variance(counts, read_noise)), arr.shape)
    else:
        sig = check_sigma(sigma, arr.shape)
    zlp_unit = None if zlp is None else unit_zlp(energy, zlp, arr.shape)
    fwhm = _resolution_fwhm(energy, resolution, zlp_unit)
    if search_start is None:
        search_start = np.maximum(0.8, 1.5 * fwhm)
    else:
        search_start = np.full(
            arr.shape[1], as_real_scalar(search_start, name="search_start")
        )
    search_end = as_real_scalar(search_end, name="search_end")
    if not search_end > np.max(search_start):
        raise ValueError(
            f"search_end={search_end} eV must lie above search_start "
            f"({float(np.max(search_start)):.4g} eV): the automatic window looks for "
            "the onset between them."
        )
    options = {
        "b": b,
        "search_end": search_end,
        "background": background,
        "n_sigma": n_sigma,
        "smooth": smooth,
        "search_start": search_start,
        "fwhm": fwhm,
        "resolution": resolution,
        "unit_zlp": zlp_unit,
        "min_replica_fraction": min_replica_fraction,
        "uniform": resolution is not None or zlp is not None,
    }
    return _fit_validated(energy, arr, median, sig, window, options)


def _resolution_fwhm(energy, resolution, zlp_unit):
    """Per-spectrum FWHM (eV) of the instrument response; 0 where unknown."""
    if zlp_unit is not None:
        from ..preprocessing._align import fwhm_of_validated

        width = fwhm_of_validated(replica_median(zlp_unit), energy)
        return np.where(np.isfinite(width), width, 0.0)
    return np.array(resolution or 0.0)


def _fit_validated(energy, arr, median, sig, window, options):
    """:func:`fit_band_gap` on validated arrays: arr (n_replicas, n_spectra, n_channels).

    ``median`` (n_spectra, n_channels) is the replica median of arr, or None to
    take it where it is needed.
    """
    with one_blas_thread():
        return _fit_spectra(energy, arr, median, sig, window, options)


def _fit_spectra(energy, arr, median, sig, window, options):
    """The body of :func:`_fit_validated`: every spectrum's window, fits and status."""
    n_rep, n_spec, _ = arr.shape
    b, background = options["b"], options["background"]
    fwhm = np.broadcast_to(options["fwhm"], (n_spec,))
    shape = (n_rep, n_spec)
    e_bg, bs, amp, chi2, chi2_dir, chi2_ind = (np.full(shape, np.nan) for _ in range(6))
    pedestal = np.full(shape + (2,), np.nan)
    replica_status = status_array(shape)
    status = status_array(n_spec)
    windows = np.full((n_spec, 2), np.nan)
    dof = np.zeros(n_spec, dtype=int)
    p_indirect = np.full(n_spec, np.nan)
    n_fit = n_parameters(b, background)
    # sigma broadcast over the replicas (the usual case) is its own median
    sig_median = [
        sig[0, j] if sig.strides[0] == 0 else replica_median(sig[:, j])
        for j in range(n_spec)
    ]
    if window is None:
        starts = np.broadcast_to(options["search_start"], (n_spec,))
        found = _auto_windows(energy, arr, sig_median, options, starts, fwhm)
    else:
        found = [window] * n_spec
    spectra = {}
    for j, win in enumerate(found):
        if win is None:
            status[j] = NO_ONSET
            replica_status[:, j] = NO_ONSET
            continue
        mask = (energy >= win[0]) & (energy <= win[1])
        windows[j] = win
        if mask.sum() < n_fit + 2:
            status[j] = replica_status[:, j] = TOO_FEW_POINTS
            continue
        dof[j] = int(mask.sum()) - n_fit
        spectra[j] = SpectrumRows(
            energy,
            mask,
            arr[:, j],
            sig[:, j],
            sig_median[j][mask],
            replica_median(arr[:, j, mask]) if median is None else median[j, mask],
            j,
            options,
        )
    rows = list(spectra.values())
    fits = fit_windows(
        energy, [r.fit for r in rows], [b, B_DIRECT, B_INDIRECT], background=background
    )
    alone = [r.median_fit for r in rows if r.median_fit is not None]
    median_fits = iter(
        fit_windows(energy, alone, [B_DIRECT, B_INDIRECT], background=background)
    )
    for (j, rows_j), fits_j in zip(spectra.items(), fits, strict=True):
        spectrum = spectrum_result(
            rows_j, fits_j, None if rows_j.joint else next(median_fits), options
        )
        for name, out in (
            ("e_bg", e_bg),
            ("b", bs),
            ("amplitude", amp),
            ("chi2", chi2),
            ("chi2_direct", chi2_dir),
            ("chi2_indirect", chi2_ind),
            ("pedestal", pedestal),
            ("replica_status", replica_status),
        ):
            out[:, j] = spectrum[name]
        p_indirect[j] = spectrum["p_indirect"]
    return BandGapResult(
        e_bg=e_bg,
        b=bs,
        amplitude=amp,
        chi2=chi2,
        dof=dof,
        chi2_direct=chi2_dir,
        chi2_indirect=chi2_ind,
        window=windows,
        b_fixed=b,
        replica_status=replica_status,
        status=status,
        pedestal=pedestal,
        background=background,
        p_indirect=p_indirect,
        min_replica_fraction=options["min_replica_fraction"],
    )
