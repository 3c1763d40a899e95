"""Seeded synthetic low-loss EEL spectra with known ground truth."""

import numpy as np
from scipy import stats
from sklearn.utils import Bunch, check_random_state

from .._validation import as_real_array, as_real_scalar, check_energy_axis
from ._detector import (
    ENERGY_UNITS,
    check_detector,
    check_energy_unit,
    check_gain_peaks,
    detect,
    drift_offsets,
)
from ._scattering import _check_cherenkov, _cherenkov_shape, _single_scattering_shape
from ._zlp_shape import zlp_shape

__all__ = ["make_synthetic_eels", "zlp_shape"]


def _per_spectrum(value, n, name):
    arr = as_real_array(value, name=name)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    arr = arr.reshape(-1)
    if arr.size != n:
        raise ValueError(
            f"{name} has {arr.size} values but {n} spectra are generated; pass one value or one per spectrum."
        )
    return arr


def _thickness_values(t_over_lambda, n_spectra, image_shape, rng):
    if isinstance(t_over_lambda, tuple):
        bounds = [as_real_scalar(v, name="t_over_lambda") for v in t_over_lambda]
        if len(bounds) != 2 or not bounds[0] <= bounds[1]:
            raise ValueError(
                f"t_over_lambda={t_over_lambda!r}: a tuple is a (low, high) range with "
                "low <= high; pass a list or array for one value per spectrum."
            )
        low, high = bounds
        if image_shape is None:
            return np.linspace(low, high, n_spectra)
        ny, nx = image_shape
        yy, xx = np.meshgrid(np.linspace(0, 1, ny), np.linspace(0, 1, nx), indexing="ij")
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        field = 0.6 * xx + np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.08)
        field = (field - field.min()) / max(np.ptp(field), 1e-12)
        return (low + (high - low) * field).reshape(-1)
    values = _per_spectrum(t_over_lambda, n_spectra, "t_over_lambda")
    if np.any(values < 0):
        raise ValueError("t_over_lambda must be >= 0 (0 is vacuum).")
    return values


def make_synthetic_eels(
    n_spectra=8,
    *,
    energy=None,
    image_shape=None,
    fwhm=0.3,
    zlp_asymmetry=1.5,
    zlp_tail_fraction=0.15,
    zlp_tail_exponent=2.6,
    t_over_lambda=0.5,
    e_bg=1.6,
    b=1.5,
    onset_strength=0.1,
    plasmon_energy=22.0,
    plasmon_width=5.0,
    beam_energy=200.0,
    collection_angle=10.0,
    total_counts=1e7,
    read_noise=5.0,
    shift_std=0.0,
    n_vacuum=0,
    detector_gain=1.0,
    pedestal=0.0,
    pedestal_slope=0.0,
    gain_peaks=None,
    cherenkov_strength=0.0,
    cherenkov_energy=None,
    residual_drift=0.0,
    energy_unit="eV",
    random_state=None,
):
    """Generate realistic low-loss EEL spectra with every component known.

    Each spectrum is ``J = Z + S1 + S_plural + noise``: the instrument zero-loss
    peak ``Z = I0 exp(-t/lambda) R(E - s)`` (R: :func:`zlp_shape`, unit area on
    the axis; s: the spectrum's ZLP shift), single scattering
    ``S1 = I0 exp(-t/lambda) (t/lambda) (R * P)`` and plural scattering
    ``sum_{n>=2} I0 exp(-t/lambda) (t/lambda)^n / n! (R * P^{*n})``, the Poisson
    law of independent scattering events (Egerton 2011, eq. 3.117), where P is the
    unit-area single-scattering distribution: an interband onset
    ``(E - E_bg)^b`` plus a Drude plasmon integrated over the collection angle.
    Shot noise is Poisson on the electrons, read noise Gaussian. All intensities
    are counts per channel (electrons times ``detector_gain``).

    Optional effects, each off by default (the defaults give bitwise the same
    spectra as before they existed): Cherenkov-like losses below the gap, added
    to single scattering; energy-gain peaks; a detector gain; a pedestal (dark
    offset) added after the noise; residual ZLP offsets left by an imperfect
    alignment; an energy axis returned in keV or meV. A thick specimen
    (``t_over_lambda`` up to 2.5) with a narrow plasmon or a broad ZLP makes the
    plasmon outgrow the ZLP (``plasmon_to_zlp`` above 1).

    Parameters
    ----------
    n_spectra : int, default=8
        Number of spectra; ignored when ``image_shape`` is given.
    energy : array-like of shape (n_channels,), default=None
        Uniform energy axis in eV. Default: -4 to 46 eV in 0.025 eV steps (2001
        channels), like the WS2 data. Make it reach ~8x the plasmon energy if you
        need the log-ratio thickness to recover ``t_over_lambda`` closely.
    image_shape : tuple of int (ny, nx), default=None
        Generate a spectral image: spectra and components get shape
        (ny, nx, n_channels), thickness varies smoothly across pixels.
    fwhm : float, default=0.3
        ZLP full width at half maximum in eV (realistic: 0.02 monochromated to
        2.5 for a thermionic gun at high dispersion).
    zlp_asymmetry, zlp_tail_fraction, zlp_tail_exponent : float
        ZLP shape, see :func:`zlp_shape`. A monochromated ZLP is nearly Gaussian
        and asymmetric: e.g. ``fwhm=0.02, zlp_asymmetry=2.0,
        zlp_tail_fraction=0.02``.
    t_over_lambda : float, tuple (low, high), list or ndarray, default=0.5
        Relative thickness. A float applies to every spectrum; a tuple spreads
        values evenly (or, for an image, as a smooth map) between low and high; a
        list or array gives one value per spectrum (or pixel).
    e_bg : float or None, default=1.6
        Band gap in eV; None generates a metal (plasmon only, no gap).
    b : float, default=1.5
        Onset exponent: about 0.5 for a direct gap, 1.5 for an indirect one.
    onset_strength : float, default=0.1
        Height of the onset term 1 eV above the gap relative to the plasmon peak
        of P.
    plasmon_energy, plasmon_width : float, default=22.0, 5.0
        Drude plasmon energy and damping in eV.
    beam_energy : float, default=200.0
        Beam energy in keV (enters the angular integration of the plasmon).
    collection_angle : float, default=10.0
        Collection semi-angle in mrad.
    total_counts : float or array-like, default=1e7
        Electrons per spectrum, I0: the ZLP holds I0 exp(-t/lambda) of them;
        electrons that lost more than the axis end are not recorded.
    read_noise : float, default=5.0
        Standard deviation of the Gaussian read noise in counts per channel.
    shift_std : float, default=0.0
        Standard deviation in eV of random ZLP shifts (drift, HT instability);
        the true shifts are returned.
    n_vacuum : int, default=0
        Also generate this many vacuum spectra (ZLP only, t/lambda = 0, same
        detector: gain, read noise and pedestal).
    detector_gain : float, default=1.0
        Counts per electron: every intensity is multiplied by it, so the
        counting variance is ``detector_gain`` times the counts (a CCD or CMOS
        camera records several counts per electron; 1 is a counting detector).
    pedestal : float, default=0.0
        Constant offset in counts per channel added to every spectrum after the
        noise (a dark reference that did not match, a detector bias).
    pedestal_slope : float, default=0.0
        Linear part of the pedestal in counts per channel per eV: the offset is
        ``pedestal + pedestal_slope * E`` (E in eV).
    gain_peaks : sequence of (float, float), default=None
        Energy-gain peaks (anti-Stokes phonon or optically excited gains):
        ``(position, fraction)`` puts a copy of the ZLP at ``position`` eV
        (below 0) holding ``fraction`` of the ZLP's electrons.
    cherenkov_strength : float, default=0.0
        Cherenkov-like losses below the gap: a square-root rise from
        ``cherenkov_energy`` to a plateau of this fraction of the onset term
        1 eV above the gap, reached at ``e_bg`` and decaying over 0.5 eV above
        it; scattered and broadened like single scattering. Needs ``e_bg``.
    cherenkov_energy : float, default=None
        Where the Cherenkov-like losses start, in eV, between 0 and ``e_bg``;
        None: ``e_bg / 2``.
    residual_drift : float or array-like, default=0.0
        ZLP offsets left after an imperfect alignment, in units of the ZLP
        FWHM, on top of ``shift_std``: a number ``r`` spreads the offsets evenly
        over ``[-r, r]`` FWHM in random order (a single spectrum gets ``+r``);
        an array gives each spectrum's offset. Vacuum spectra are not offset.
    energy_unit : {"eV", "keV", "meV"}, default="eV"
        Unit of the returned axis ``energy`` (a file exported in keV or meV);
        ``energy`` as a parameter and every other energy are in eV, and
        ``energy_ev`` is the axis in eV.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``spectra`` (noisy counts), ``energy`` (in ``energy_unit``),
        ``energy_ev``, ``energy_unit``, ``zlp``, ``single_scattering``,
        ``plural_scattering``, ``cherenkov``, ``inelastic`` (single, plural and
        Cherenkov-like scattering), ``gain_peaks``, ``pedestal`` (shape
        (n_channels,), the same in every spectrum), ``noise_free`` (the
        expected counts: ``zlp + inelastic + gain_peaks + pedestal``),
        ``ssd`` (the single-scattering distribution without instrument
        broadening, I0 exp(-t/lambda) (t/lambda) P(E - s), the target of
        Fourier-log deconvolution), ``t_over_lambda``, ``shifts`` (eV, every
        ZLP's centre), ``residual_shifts`` (eV, the part from
        ``residual_drift``), ``e_bg``, ``b``, ``onset_amplitude`` (A of the
        ssd's onset ``A (E - E_bg)^b``, counts per channel with E in eV),
        ``fwhm``, ``total_counts`` (electrons), ``detector_gain``,
        ``plasmon_to_zlp`` (highest inelastic over highest ZLP count of
        each spectrum); if ``n_vacuum``: ``vacuum``, ``vacuum_zlp``,
        ``vacuum_shifts``; ``params`` (the arguments) and ``DESCR``. The
        optional components are zero when their effect is off.

    References
    ----------
    R. F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron Microscope*,
    3rd ed., Springer (2011), sections 3.3 (Drude), 3.7 (Poisson plural
    scattering), 4.2 (Fourier-log).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> data = make_synthetic_eels(3, t_over_lambda=0.3, random_state=0)
    >>> data.spectra.shape, data.energy.shape
    ((3, 2001), (2001,))
    >>> bool(np.allclose(data.zlp + data.inelastic, data.noise_free))
    True
    >>> kev = make_synthetic_eels(1, energy_unit="keV", pedestal=20.0, random_state=0)
    >>> float(kev.energy[-1]), kev.energy_unit, float(kev.pedestal[0])
    (0.046, 'keV', 20.0)
    """
    params = {k: v for k, v in locals().items() if k != "random_state"}
    rng = check_random_state(random_state)
    scalars = {
        "fwhm": fwhm,
        "zlp_asymmetry": zlp_asymmetry,
        "zlp_tail_fraction": zlp_tail_fraction,
        "zlp_tail_exponent": zlp_tail_exponent,
        "b": b,
        "onset_strength": onset_strength,
        "plasmon_energy": plasmon_energy,
        "plasmon_width": plasmon_width,
        "beam_energy": beam_energy,
        "collection_angle": collection_angle,
        "read_noise": read_noise,
        "shift_std": shift_std,
        "cherenkov_strength": cherenkov_strength,
    }
    (
        fwhm,
        zlp_asymmetry,
        zlp_tail_fraction,
        zlp_tail_exponent,
        b,
        onset_strength,
        plasmon_energy,
        plasmon_width,
        beam_energy,
        collection_angle,
        read_noise,
        shift_std,
        cherenkov_strength,
    ) = (as_real_scalar(v, name=k) for k, v in scalars.items())
    if e_bg is not None:
        e_bg = as_real_scalar(e_bg, name="e_bg")
    if energy is None:
        energy = np.linspace(-4.0, 46.0, 2001)
    energy = check_energy_axis(energy, name="energy", uniform=True)
    if not energy[0] < 0 < energy[-1]:
        raise ValueError(
            f"energy runs from {energy[0]:.4g} to {energy[-1]:.4g} eV; it must include "
            "0 eV (the ZLP) with some gain side, e.g. np.linspace(-4, 46, 2001)."
        )
    dispersion = (energy[-1] - energy[0]) / (energy.size - 1)
    if not 0 < fwhm:
        raise ValueError(f"fwhm must be positive, got {fwhm}.")
    if fwhm < 2 * dispersion:
        raise ValueError(
            f"fwhm={fwhm} eV spans fewer than 2 channels of {dispersion:.4g} eV; "
            "use a finer energy axis or a broader ZLP."
        )
    if e_bg is not None and not 0 < e_bg < energy[-1]:
        raise ValueError(
            f"e_bg={e_bg} must lie between 0 and the axis end {energy[-1]:.4g} eV, or be None for a metal."
        )
    energy_unit = check_energy_unit(energy_unit)
    detector_gain, pedestal, pedestal_slope = check_detector(
        detector_gain, pedestal, pedestal_slope
    )
    peaks = check_gain_peaks(gain_peaks, energy)
    cherenkov_kw = _check_cherenkov(
        cherenkov_strength, cherenkov_energy, e_bg, onset_strength
    )
    if image_shape is not None:
        image_shape = tuple(int(v) for v in image_shape)
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(
                f"image_shape must be (ny, nx) with positive sizes, got {image_shape!r}."
            )
        n_spectra = image_shape[0] * image_shape[1]
    n_spectra = int(n_spectra)
    if n_spectra < 1:
        raise ValueError(f"n_spectra must be >= 1, got {n_spectra}.")

    thickness = _thickness_values(t_over_lambda, n_spectra, image_shape, rng)
    counts = _per_spectrum(total_counts, n_spectra, "total_counts")
    shifts = (
        rng.normal(0.0, shift_std, size=n_spectra) if shift_std > 0 else np.zeros(n_spectra)
    )
    residual = drift_offsets(residual_drift, n_spectra, fwhm, rng)
    if residual is not None:
        shifts = shifts + residual
    shape_kw = {
        "fwhm": fwhm,
        "asymmetry": zlp_asymmetry,
        "tail_fraction": zlp_tail_fraction,
        "tail_exponent": zlp_tail_exponent,
    }
    ssd_kw = {
        "e_bg": e_bg,
        "b": b,
        "onset_strength": onset_strength,
        "plasmon_energy": plasmon_energy,
        "plasmon_width": plasmon_width,
        "beam_energy": beam_energy,
        "collection_angle": collection_angle,
    }

    # P on a loss grid k * dispersion, normalised to unit area over a range long
    # enough (50 plasmon energies) that the Drude tail beyond it is negligible.
    n_channels = energy.size
    long_grid = np.arange(
        0.0, max(50.0 * plasmon_energy, energy[-1] - energy[0]) + dispersion, dispersion
    )
    p_long = _single_scattering_shape(long_grid, **ssd_kw)
    p_area = np.trapezoid(p_long, long_grid)
    p_window = p_long[:n_channels] / p_area

    # Orders of plural scattering, each truncated to the window before the next
    # convolution, so that no wrapped-around intensity enters the window.
    max_t = float(thickness.max())
    n_orders = max(2, int(stats.poisson.isf(1e-12, max_t)) + 2) if max_t > 0 else 1
    n_fft = int(2 ** np.ceil(np.log2(2 * n_channels)))
    p_hat = np.fft.rfft(p_window, n_fft)
    orders = np.empty((n_orders, n_fft // 2 + 1), dtype=complex)
    current = p_window
    for n in range(n_orders):
        orders[n] = np.fft.rfft(current, n_fft)
        current = np.fft.irfft(orders[n] * p_hat, n_fft)[:n_channels] * dispersion
    factorials = np.cumprod(np.arange(1, n_orders + 1, dtype=np.float64))
    # Cherenkov-like losses: first order only (they are weak), not part of P.
    cherenkov_hat = None
    if cherenkov_kw is not None:
        c_window = _cherenkov_shape(long_grid[:n_channels], **cherenkov_kw) / p_area
        cherenkov_hat = np.fft.rfft(c_window, n_fft)

    def zlp_rows(row_shifts, row_counts, row_t):
        shape = zlp_shape(energy[None, :] - row_shifts[:, None], **shape_kw)
        shape /= shape.sum(axis=1, keepdims=True) * dispersion
        return shape, shape * (row_counts * np.exp(-row_t))[:, None]

    zlp = np.empty((n_spectra, n_channels))
    single = np.empty_like(zlp)
    plural = np.empty_like(zlp)
    cherenkov = np.zeros_like(zlp)
    gains = np.zeros_like(zlp)
    chunk = 256
    for start in range(0, n_spectra, chunk):
        sl = slice(start, start + chunk)
        density, zlp[sl] = zlp_rows(shifts[sl], counts[sl], thickness[sl])
        r_hat = np.fft.rfft(density, n_fft, axis=1)
        weights = thickness[sl, None] ** np.arange(1, n_orders + 1) / factorials
        weights *= (counts[sl] * np.exp(-thickness[sl]))[:, None] * dispersion
        single[sl] = np.fft.irfft(r_hat * (weights[:, :1] * orders[0]), n_fft, axis=1)[
            :, :n_channels
        ]
        plural_hat = r_hat * (weights[:, 1:] @ orders[1:])
        plural[sl] = np.fft.irfft(plural_hat, n_fft, axis=1)[:, :n_channels]
        if cherenkov_hat is not None:
            c_hat = r_hat * (weights[:, :1] * cherenkov_hat)
            cherenkov[sl] = np.fft.irfft(c_hat, n_fft, axis=1)[:, :n_channels]
        for position, fraction in peaks:
            row_counts = counts[sl] * fraction
            gains[sl] += zlp_rows(shifts[sl] + position, row_counts, thickness[sl])[1]
    # Everything above is in electrons per eV; spectra count electrons per channel.
    zlp *= dispersion
    single *= dispersion
    plural *= dispersion
    inelastic = single + plural
    if cherenkov_hat is not None:
        cherenkov *= dispersion
        inelastic = inelastic + cherenkov
    noise_free = zlp + inelastic
    if peaks:
        gains *= dispersion
        noise_free = noise_free + gains
    spectra = detect(noise_free, rng, detector_gain, read_noise)

    ssd_unit = (
        _single_scattering_shape(energy[None, :] - shifts[:, None], **ssd_kw) / p_area
    )
    if cherenkov_kw is not None:
        ssd_unit += (
            _cherenkov_shape(energy[None, :] - shifts[:, None], **cherenkov_kw) / p_area
        )
    ssd = ssd_unit * (counts * np.exp(-thickness) * thickness * dispersion)[:, None]
    onset_amplitude = (
        counts * np.exp(-thickness) * thickness * onset_strength * dispersion / p_area
        if e_bg is not None
        else np.zeros(n_spectra)
    )
    if detector_gain != 1.0:  # from electrons to counts
        for component in (zlp, single, plural, cherenkov, gains, noise_free, ssd):
            component *= detector_gain
        inelastic = inelastic * detector_gain
        onset_amplitude = onset_amplitude * detector_gain
    offset = pedestal + pedestal_slope * energy
    if pedestal != 0 or pedestal_slope != 0:
        spectra += offset
        noise_free = noise_free + offset
    x = np.linspace(-10 * fwhm, 20 * fwhm, 300001)
    above = x[zlp_shape(x, **shape_kw) >= 0.5]

    out_shape = image_shape if image_shape is not None else (n_spectra,)

    def shaped(a):
        return a.reshape(*out_shape, *a.shape[1:])

    data = Bunch(
        spectra=shaped(spectra),
        energy=energy * ENERGY_UNITS[energy_unit] if energy_unit != "eV" else energy,
        energy_ev=energy,
        energy_unit=energy_unit,
        zlp=shaped(zlp),
        single_scattering=shaped(single),
        plural_scattering=shaped(plural),
        cherenkov=shaped(cherenkov),
        inelastic=shaped(inelastic),
        gain_peaks=shaped(gains),
        pedestal=offset,
        noise_free=shaped(noise_free),
        ssd=shaped(ssd),
        t_over_lambda=shaped(thickness),
        shifts=shaped(shifts),
        residual_shifts=shaped(np.zeros(n_spectra) if residual is None else residual),
        e_bg=e_bg,
        b=b,
        onset_amplitude=shaped(onset_amplitude),
        fwhm=float(above[-1] - above[0]),
        total_counts=shaped(counts),
        detector_gain=detector_gain,
        plasmon_to_zlp=shaped(inelastic.max(axis=1) / zlp.max(axis=1)),
        params=params,
        DESCR=make_synthetic_eels.__doc__.split("\n\n")[0],
    )
    if n_vacuum:
        vac_shifts = (
            rng.normal(0.0, shift_std, size=n_vacuum)
            if shift_std > 0
            else np.zeros(n_vacuum)
        )
        vac_counts = np.full(n_vacuum, counts.mean())
        _, vac_zlp = zlp_rows(vac_shifts, vac_counts, np.zeros(n_vacuum))
        vac_zlp *= dispersion
        vacuum = detect(vac_zlp, rng, detector_gain, read_noise)
        if detector_gain != 1.0:
            vac_zlp *= detector_gain
        if pedestal != 0 or pedestal_slope != 0:
            vacuum += offset
        data.update(vacuum=vacuum, vacuum_zlp=vac_zlp, vacuum_shifts=vac_shifts)
    return data
