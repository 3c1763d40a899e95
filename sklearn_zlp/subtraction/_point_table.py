"""The point table the ZLP ensemble trains on (Roest et al. 2021, sections 2-3).

Rows are (energy input, covariates...) of every training channel of every
spectrum, targets the normalised intensities, weights ``norm^2 / sigma^2``;
region-III pseudo-data and the region-II grid of the monotonicity penalty are
added per spectrum.
"""

from types import SimpleNamespace

import numpy as np
from scipy.optimize import least_squares

from .._noise import counting_variance
from ..preprocessing._align import fwhm_of_validated
from ._extrapolation import MIN_TAIL_POWER
from ._inputs import LOG_TOTAL, covariate_table, normalisation
from ._regions import fit_regions
from ._uncertainty import choose_read_noise, training_variance

__all__ = [
    "build_point_table",
    "energy_feature",
    "energy_width",
    "robust_ranges",
    "tail_extrapolation",
    "tail_law",
    "tail_reference",
    "tail_powers",
    "training_table",
]

# ln-space uncertainty of the "tail" pseudo-data (see ZLPSubtractor's pseudo_data).
# Measured 68% coverage of the true inelastic signal over E_bg - 0.3 to 4 eV (6
# synthetic spectra, dE_I/dE_II from vacuum spectra, 16 replicas x 2000 epochs, lr
# 0.1, read_noise 5 as generated, three seeds, linear percentiles; region III
# only, the spectrum's own law) with "tail" / "one": FWHM 0.3 eV, t/lambda
# 0.3-0.7, 1e7 counts 0.77-0.83 / 0.84-0.89; FWHM 0.15 eV, t/lambda 0.2-0.4, 1e6
# counts 0.62-0.63 / 0.50; FWHM 0.6 eV, t/lambda 0.6-1.4, 1e8 counts 0.91-0.99 /
# 0.09-0.25 (targeting the noise level sqrt(I) instead gave 0.10 on the first
# set). 0.05 gave 0.62-0.82 / 0.62-0.63 / 0.99, 0.2 gave 0.85-0.91 / 0.62 /
# 0.39-0.83, and 1.0 lets replicas stay flat through region III (0.06-0.13 on the
# first and last set). On the WS2 spectra (five trained, one left out, 100
# replicas x 3000 epochs, unbiased percentiles) the onset at 2-3 eV stood 2.2-2.8
# half-bands above zero instead of 1.5-1.9 with "one", the worst ZLP error over
# 0-1 eV was 0.027-0.046 (0.032-0.050), and the median below 1 eV stayed within
# two half-bands of zero everywhere.
TAIL_SIGMA = 0.1
# relative_sigma="auto" in vacuum mode (see ZLPSubtractor's relative_sigma)
VACUUM_RELATIVE_SIGMA = 0.02


def tail_reference(regions, read_noise=0.0):
    """The mean vacuum spectrum of a fitted ZLPRegionMask and its noise, or None.

    Returns a namespace with ``mean`` (the mean spectrum), ``read_noise`` and
    ``n`` (spectra averaged), or None without vacuum spectra. Its tail over
    ``[dE_I / 2, dE_I)`` is the ZLP's alone; a specimen's there already carries
    losses wherever they start below dE_I (a metal's from 0 eV), which flatten
    the slope: zoo ``metal_no_gap`` (100 x 3000, two seeds) t/lambda
    -0.0006..-0.0023 with the specimen's slope, 0 of 12 bands holding the
    truth; -0.0003..-0.0016 and 6 of 12 with the vacuum's. On the gapped
    reference case t/lambda and E_bg barely move (E_bg medians within 0.04 eV).
    """
    vacuum = getattr(regions, "_vacuum_", None)
    if vacuum is None:
        return None
    vacuum = np.asarray(vacuum, dtype=np.float64)
    return SimpleNamespace(
        mean=vacuum.mean(axis=0), read_noise=float(read_noise), n=vacuum.shape[0]
    )


def _as_reference(reference):
    if reference is None or isinstance(reference, SimpleNamespace):
        return reference
    return SimpleNamespace(
        mean=np.asarray(reference, dtype=np.float64), read_noise=0.0, n=1
    )


def tail_law(spectrum, energy, de1, reference=None):
    """Power law ``(ln I at ln E = x0, x0, slope)`` of a spectrum's ZLP tail, or None.

    ln I is fitted linearly in ln E on the loss side over ``[dE_I / 2, dE_I)``
    (ZLP-dominated by the definition of dE_I); the slope is kept at or below -1
    (a tail that falls at least as 1/E). None with fewer than 3 positive
    channels there. With a ``reference`` (the mean vacuum spectrum on the same
    axis, :func:`tail_reference`), which shows the ZLP alone beyond dE_I too,
    the law is the reference's over ``[dE_I, 3 dE_I)`` scaled by the
    spectrum's counts over the reference's (:func:`_reference_scale`; where the
    reference has no law there, the spectrum's level with the reference's
    slope over ``[dE_I / 2, dE_I)``).

    Near the peak ``[dE_I / 2, dE_I)`` still bends out of the core: synthetic
    ZLP (zlp_shape defaults), slope there at dE_I = 2 / 2.5 / 3 / 3.5 / 4 / 5
    FWHM -4.11 / -3.55 / -2.87 / -2.58 / -2.53 / -2.55, over ``[dE_I, 3 dE_I)``
    -2.54 to -2.59. The region-III pseudo-data of the spectrum's own law came
    out at 0.16-0.21 of the true ZLP at FWHM 0.6 eV, dE_I 1.56 eV, 0.60-0.62 at
    FWHM 0.5 eV, dE_I 1.48 eV, and 1.07-1.10 at FWHM 0.3 eV, dE_I 1.56 eV, 1e7
    counts; the reference's law beyond dE_I gave 1.05, 1.01-1.02 and
    0.99-1.01. Where the reference's counts beyond dE_I reach its noise (1e6
    counts, FWHM 0.15 eV, read noise 5): 0.96-0.99, the spectrum's own law
    0.96-1.23.
    """
    law = _law(spectrum, energy, 0.5 * de1, de1)
    reference = _as_reference(reference)
    if law is None or reference is None:
        return law
    far = _far_law(reference, energy, de1)
    scale = _reference_scale(spectrum, reference.mean, energy, de1)
    if far is not None and scale > 0:
        return far[0] + np.log(scale), far[1], far[2]
    ref = _law(reference.mean, energy, 0.5 * de1, de1)
    return law if ref is None else (law[0], law[1], ref[2])


def _reference_scale(spectrum, reference, energy, de1):
    """Counts of the spectrum's ZLP over the reference's, at ``dE_I / 2 <= |E| < dE_I``.

    The lower of the ratios of the sums on the loss and on the gain side:
    losses add counts on the loss side only (a metal's from 0 eV), gain-side
    features (anti-Stokes peaks) on the gain side only. Zoo, first seed, ratio
    over the true ZLP's: ``metal_no_gap`` loss side 1.03-1.08, gain side
    0.99-1.00; ``thick_broad_vacuum`` 1.01-1.05 and 1.00-1.01; ``gain_peaks``
    0.80-1.23 and 1.25-1.72; ``read_noise_0`` 0.98-1.04 and 0.97-1.04.
    NaN where neither side has positive sums.
    """
    ratios = []
    for side in (energy, -energy):
        near = (side >= 0.5 * de1) & (side < de1)
        counts, ref_counts = spectrum[near].sum(), reference[near].sum()
        if counts > 0 and ref_counts > 0:
            ratios.append(counts / ref_counts)
    return min(ratios) if ratios else np.nan


def _far_law(reference, energy, de1):
    """The reference's power law over ``[dE_I, 3 dE_I)``, fitted to its counts.

    Least squares on the counts with the variance of their mean
    (:func:`~sklearn_zlp._noise.counting_variance` over ``n``), not on their
    logarithms: where the tail reaches the read noise, ln I exists only for
    the channels that noise pushed up, and a fit of ln I flattens. Zoo cases,
    pseudo-data over region III against the true ZLP, ln fit / counts fit:
    ``gain_peaks`` (FWHM 30 meV) 9.5 / 0.78, ``mono_20meV_1meV_channels``
    10.9 / 1.07, ``direct_gap_sharp_zlp`` 1.37 / 1.06; synthetic 1e6 counts
    with read noise 20 1.31-1.38 / 0.99-1.01; bright tails alike (1.01-1.05).
    """
    # one fit per dE_I: the spectra of a table or batch share the reference
    cache = reference.__dict__.setdefault("far_laws", {})
    if float(de1) not in cache:
        cache[float(de1)] = _fit_far_law(reference, energy, de1)
    return cache[float(de1)]


def _fit_far_law(reference, energy, de1):
    start = _law(reference.mean, energy, de1, 3.0 * de1)
    if start is None:
        return None
    ym, xm, slope = start
    use = (energy >= de1) & (energy < 3.0 * de1)
    x, y = np.log(energy[use]) - xm, reference.mean[use]

    def residuals(p):
        model = np.exp(p[0] + p[1] * x)
        variance = counting_variance(model, reference.read_noise) / reference.n
        return (y - model) / np.sqrt(variance)

    fit = least_squares(residuals, [ym, slope], bounds=([-np.inf, -20.0], [np.inf, 0.0]))
    if not fit.success:
        return start
    return fit.x[0], xm, min(fit.x[1], MIN_TAIL_POWER)


def _law(spectrum, energy, start, stop):
    if not (np.isfinite(start) and np.isfinite(stop)):
        return None
    use = (energy >= start) & (energy < stop) & (spectrum > 0)
    if use.sum() < 3:
        return None
    x, y = np.log(energy[use]), np.log(spectrum[use])
    w = spectrum[use]  # ln-space weights 1/sigma_ln^2 = I (Poisson)
    xm = np.average(x, weights=w)
    ym = np.average(y, weights=w)
    slope = np.sum(w * (x - xm) * (y - ym)) / max(np.sum(w * (x - xm) ** 2), 1e-300)
    return ym, xm, min(slope, MIN_TAIL_POWER)


def tail_extrapolation(spectrum, energy, de1, e3, reference=None):
    """Power-law extrapolation of a spectrum's ZLP tail from region I to ``e3``.

    The law of :func:`tail_law`, in counts, at least 1 (all 1 without a law).
    """
    law = tail_law(spectrum, energy, de1, reference)
    if law is None:
        return np.ones_like(e3)
    ym, xm, slope = law
    return np.maximum(np.exp(ym + slope * (np.log(e3) - xm)), 1.0)


def tail_powers(spectra, energy, de1, de2, mode):
    """Median power of the training spectra's ZLP tails, (gain side, loss side).

    Each side's :func:`tail_law` over the outer half of the trained channels:
    ``[dE_I / 2, dE_I)`` on both sides in specimen mode, ``[E / 2, E)`` with
    ``E`` the ends of the channels above the noise in vacuum mode. NaN where
    no spectrum has a law.
    """
    loss_edge = de1 if mode == "specimen" else de2
    gain, loss = [], []
    for s, g, e in zip(spectra, de1, loss_edge, strict=True):
        for side, law in (
            (gain, tail_law(s[::-1], -energy[::-1], g)),
            (loss, tail_law(s, energy, e)),
        ):
            if law is not None:
                side.append(law[2])
    return np.array([np.median(v) if v else np.nan for v in (gain, loss)])


def energy_feature(energy, width):
    """Network input for the energy loss: asinh(E / w) or E itself.

    asinh is linear within the ZLP core (|E| < w, the median FWHM) and
    logarithmic in the tails, so the narrow peak and the long tail span
    comparable parts of the scaled input range. ``width`` None: linear.
    """
    return energy if width is None else np.arcsinh(energy / width)


def energy_width(est, fwhm):
    """``w`` of the asinh energy input (the median FWHM), or None for a linear one.

    ``est.energy_scale="auto"`` is asinh in vacuum mode, linear in specimen mode.
    """
    scale = est.energy_scale
    if scale == "auto":
        scale = "asinh" if est.mode == "vacuum" else "linear"
    if scale != "asinh":
        return None
    width = np.nanmedian(fwhm)
    return float(width) if np.isfinite(width) else 1.0


def _rows(energy, width, cov):
    return np.column_stack([energy_feature(energy, width), np.tile(cov, (energy.size, 1))])


def build_point_table(
    spectra, energy, covariates, norm, variance, de1, de2, width, *, options, reference=None
):
    """Training points, targets, weights and monotonic grid of all spectra.

    ``options`` is the subtractor (its mode, n_pseudo, n_monotonic and
    pseudo_data). Returns a namespace with ``points``, ``target``,
    ``weight`` (the ``sample_weight``), ``monotonic`` (``monotonic_X``),
    ``spectrum`` (the spectrum of each row), ``is_data`` (rows with data, not
    pseudo-data), ``n_points`` (the data rows) and ``energy_range`` (the lowest
    and highest energy in eV of a row with data or pseudo-data: the range the
    networks are trained on).
    """
    rows, targets, weights, grid, owner, kind = [], [], [], [], [], []
    low, high = np.inf, -np.inf
    dispersion = energy[1] - energy[0]
    specimen = options.mode == "specimen"
    n_points = 0
    for i, s in enumerate(spectra):
        cov = covariates[i]
        if specimen:
            chosen = (np.abs(energy) < de1[i]) & (s > 0)
        else:
            chosen = (energy >= -de1[i]) & (energy <= de2[i]) & (s > 0)
        if chosen.sum() < 5:
            raise ValueError(
                f"spectrum {i} has only {int(chosen.sum())} positive channels in its "
                f"training region (|E| < {de1[i]:.3g} eV); widen the region (larger "
                "dE_I) or use a finer energy axis."
            )
        e = energy[chosen]
        low, high = min(low, e[0]), max(high, e[-1])
        rows.append(_rows(e, width, cov))
        targets.append(s[chosen] / norm[i])
        weights.append(norm[i] ** 2 / variance[i, chosen])
        owner.append(np.full(e.size, i))
        kind.append(np.ones(e.size, dtype=bool))
        n_points += e.size
        if specimen and options.n_pseudo > 0:
            stop = min(1.5 * de2[i], energy[-1])
            if stop - de2[i] < dispersion:
                raise ValueError(
                    f"spectrum {i}: region III (E > dE_II = {de2[i]:.3g} eV) lies "
                    f"beyond the axis end {energy[-1]:.3g} eV; lower dE_II or record "
                    "a longer energy range."
                )
            e3 = np.linspace(de2[i], stop, options.n_pseudo)
            high = max(high, e3[-1])
            if options.pseudo_data == "tail" and reference is not None:
                # the vacuum shows the tail through region II as well
                e2 = np.linspace(de1[i], de2[i], options.n_pseudo + 1)[1:]
                e3 = np.concatenate([e2, e3])
            rows.append(_rows(e3, width, cov))
            owner.append(np.full(e3.size, i))
            kind.append(np.zeros(e3.size, dtype=bool))
            if options.pseudo_data in ("tail", "tail_region_iii"):
                level = tail_extrapolation(s, energy, de1[i], e3, reference)
                targets.append(level / norm[i])
                weights.append((norm[i] / (TAIL_SIGMA * level)) ** 2)
            else:  # "one": 1 count with a 0.5-count uncertainty
                targets.append(np.full(e3.size, 1.0 / norm[i]))
                weights.append(np.full(e3.size, (norm[i] / 0.5) ** 2))
        if specimen and options.n_monotonic > 1:
            grid.append(_rows(np.linspace(de1[i], de2[i], options.n_monotonic), width, cov))
    return SimpleNamespace(
        points=np.vstack(rows),
        target=np.concatenate(targets),
        weight=np.concatenate(weights),
        monotonic=np.vstack(grid) if grid else None,
        spectrum=np.concatenate(owner),
        is_data=np.concatenate(kind),
        n_points=n_points,
        energy_range=np.array([low, high]),
    )


def robust_ranges(points, covariates, names):
    """Input ranges mapped to [0.1, 0.9]: energy as trained, covariates widened.

    The ln N_tot range is widened by ``max(1, range)`` on both sides, every other
    covariate by half its range (or half its value, at least 1, when all
    training spectra share it), so that a new spectrum's covariate does not
    extrapolate and a tiny spread between training spectra does not turn into
    steep structure.
    """
    ranges = [[points[:, 0].min(), points[:, 0].max()]]
    for j, name in enumerate(names):
        low, high = covariates[:, j].min(), covariates[:, j].max()
        span = high - low
        pad = max(1.0, span) if name == LOG_TOTAL else max(0.5 * span, 1e-3)
        if name != LOG_TOTAL and span == 0:
            pad = max(abs(low) * 0.5, 1.0)
        ranges.append([low - pad, high + pad])
    return np.array(ranges)


def training_table(est, data):
    """Everything the ensemble of ``est`` (a ZLPSubtractor) trains on, from validated data.

    Returns the namespace of :func:`build_point_table` with, added, the
    ``covariates`` table, the spectra's ``fwhm`` and what the fit keeps:
    ``tail_powers`` (:func:`tail_powers`), ``read_noise``, ``relative_sigma``
    (resolved), ``regions`` (fitted mask or None), ``de1``, ``de2`` and
    ``width`` (of the asinh energy input, or None).
    """
    spectra, energy = data.spectra, data.energy
    covariates = covariate_table(data, est.covariates)
    fwhm = fwhm_of_validated(spectra, energy)
    read_noise = choose_read_noise(est.read_noise, spectra, energy, fwhm)
    norm = normalisation(spectra, energy, fwhm, est.normalize)
    relative = est.relative_sigma
    if relative == "auto":
        relative = VACUUM_RELATIVE_SIGMA if est.mode == "vacuum" else 0.0
    variance = training_variance(
        spectra,
        norm,
        energy,
        data.acquisition,
        read_noise=read_noise,
        relative=float(relative),
        sigma=est.sigma,
    )
    de1, de2, regions = fit_regions(est.regions, est.mode, spectra, energy, read_noise)
    width = energy_width(est, fwhm)
    table = build_point_table(
        spectra,
        energy,
        covariates,
        norm,
        variance,
        de1,
        de2,
        width,
        options=est,
        reference=tail_reference(regions, read_noise),
    )
    table.__dict__.update(
        tail_powers=tail_powers(spectra, energy, de1, de2, est.mode),
        covariates=covariates,
        read_noise=read_noise,
        regions=regions,
        de1=de1,
        de2=de2,
        width=width,
        fwhm=fwhm,
        relative_sigma=float(relative),
    )
    return table
