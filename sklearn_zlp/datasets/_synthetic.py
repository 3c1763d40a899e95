"""Seeded synthetic low-loss EEL spectra with known ground truth."""

import numpy as np
from scipy import stats
from sklearn.utils import Bunch, check_random_state

from .._validation import as_real_array, as_real_scalar, check_energy_axis

__all__ = ["make_synthetic_eels", "zlp_shape"]

# Shape of the instrument ZLP at unit core width (sigma of the gain-side Gaussian = 1);
# every width scales together, so the FWHM is proportional to that sigma.
_TAIL_SCALE = 1.5
_ELECTRON_REST_ENERGY_KEV = 510.99895
_ONSET_CUTOFF_EV = 3.0


def zlp_shape(energy, *, fwhm=0.3, asymmetry=1.5, tail_fraction=0.15, tail_exponent=2.6):
    """Peak-normalised instrument zero-loss peak centred at 0 eV.

    A split Gaussian core (the loss side ``asymmetry`` times broader than the gain
    side) plus split power-law tails ``1 / (1 + |E / gamma| ** tail_exponent)``,
    the shape of a field-emission ZLP measured in vacuum: its defaults follow the
    WS2 vacuum spectra shipped with the package (FWHM 0.43 eV there, intensity
    relative to the maximum ~1e-2 at 1 eV, ~5e-4 at 3 eV, ~1e-4 at 5 eV).

    Parameters
    ----------
    energy : array-like
        Energies in eV, any shape and real dtype.
    fwhm : float, default=0.3
        Full width at half maximum in eV; the shape is scaled to match it exactly.
    asymmetry : float, default=1.5
        Loss-side over gain-side width of core and tails.
    tail_fraction : float, default=0.15
        Weight of the power-law tails at the peak (0 gives a pure split Gaussian).
    tail_exponent : float, default=2.6
        Power with which the tails fall (2 is Lorentzian).

    Returns
    -------
    shape : ndarray
        Values with maximum 1 at E = 0.
    """
    energy = as_real_array(energy, name="energy")
    fwhm, asymmetry, tail_fraction, tail_exponent = (
        as_real_scalar(v, name=k)
        for k, v in (
            ("fwhm", fwhm),
            ("asymmetry", asymmetry),
            ("tail_fraction", tail_fraction),
            ("tail_exponent", tail_exponent),
        )
    )
    if not fwhm > 0:
        raise ValueError(f"fwhm must be positive (eV), got {fwhm}.")
    unit_fwhm = _unit_fwhm(asymmetry, tail_fraction, tail_exponent)
    return _unit_shape(energy * (unit_fwhm / fwhm), asymmetry, tail_fraction, tail_exponent)


def _unit_shape(x, asymmetry, tail_fraction, tail_exponent):
    width = np.where(x < 0, 1.0, asymmetry)
    core = np.exp(-0.5 * (x / width) ** 2)
    tails = 1.0 / (1.0 + np.abs(x / (_TAIL_SCALE * width)) ** tail_exponent)
    return (1.0 - tail_fraction) * core + tail_fraction * tails


def _unit_fwhm(asymmetry, tail_fraction, tail_exponent):
    x = np.linspace(-20.0, 20.0 * asymmetry, 400001)
    above = x[_unit_shape(x, asymmetry, tail_fraction, tail_exponent) >= 0.5]
    return above[-1] - above[0]


def _drude_loss(energy, plasmon_energy, plasmon_width):
    """Drude energy-loss function Im[-1/eps(E)] (Egerton 2011, eq. 3.43)."""
    return (
        energy
        * plasmon_width
        * plasmon_energy**2
        / ((energy**2 - plasmon_energy**2) ** 2 + (energy * plasmon_width) ** 2)
    )


def _characteristic_angle_mrad(energy, beam_energy_kev):
    """theta_E = E / (gamma m0 v^2) in mrad (Egerton 2011, eq. 3.28)."""
    gamma = 1.0 + beam_energy_kev / _ELECTRON_REST_ENERGY_KEV
    beta2 = 1.0 - 1.0 / gamma**2
    return energy / (gamma * _ELECTRON_REST_ENERGY_KEV * 1e3 * beta2) * 1e3


def _single_scattering_shape(
    energy,
    *,
    e_bg,
    b,
    onset_strength,
    plasmon_energy,
    plasmon_width,
    beam_energy,
    collection_angle,
):
    """Unnormalised single-scattering distribution P(E) (zero for E <= 0 or E <= E_bg).

    The Drude plasmon integrated over the collection aperture (Egerton 2011,
    eq. 4.26, ln(1 + (beta/theta_E)^2)), peak-normalised, gated smoothly to zero
    at the gap; plus the interband onset ``onset_strength (E - E_bg)^b``,
    rolled off far above the onset (by less than 1.3% within 1 eV of it).
    """
    energy = np.asarray(energy, dtype=np.float64)
    positive = np.clip(energy, 1e-12, None)
    theta_e = _characteristic_angle_mrad(positive, beam_energy)
    plasmon = _drude_loss(positive, plasmon_energy, plasmon_width) * np.log1p(
        (collection_angle / theta_e) ** 2
    )
    peak_energy = np.linspace(0.5 * plasmon_energy, 1.5 * plasmon_energy, 2001)
    plasmon_peak = np.max(
        _drude_loss(peak_energy, plasmon_energy, plasmon_width)
        * np.log1p(
            (collection_angle / _characteristic_angle_mrad(peak_energy, beam_energy)) ** 2
        )
    )
    plasmon = plasmon / plasmon_peak
    if e_bg is None:
        return np.where(energy > 0, plasmon, 0.0)
    above = np.clip(energy - e_bg, 0.0, None)
    gate = -np.expm1(-(above**2))  # ~ (E - E_bg)^2 near the gap, 1 far above
    onset = onset_strength * above**b / (1.0 + (above / _ONSET_CUTOFF_EV) ** 4)
    return np.where(energy > e_bg, plasmon * gate + onset, 0.0)


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
    Shot noise is Poisson on the counts, read noise Gaussian. All intensities
    are counts per channel.

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
        ZLP full width at half maximum in eV (realistic: 0.05 to 1).
    zlp_asymmetry, zlp_tail_fraction, zlp_tail_exponent : float
        ZLP shape, see :func:`zlp_shape`.
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
        Also generate this many vacuum spectra (ZLP only, t/lambda = 0).
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``spectra`` (noisy counts), ``energy``, ``zlp``, ``single_scattering``,
        ``plural_scattering``, ``inelastic`` (their sum), ``noise_free``,
        ``ssd`` (the single-scattering distribution without instrument
        broadening, I0 exp(-t/lambda) (t/lambda) P(E - s), the target of
        Fourier-log deconvolution), ``t_over_lambda``, ``shifts`` (eV),
        ``e_bg``, ``b``, ``onset_amplitude`` (A of the ssd's onset
        ``A (E - E_bg)^b``, counts per channel with E in eV), ``fwhm``, ``total_counts``; if ``n_vacuum``:
        ``vacuum``, ``vacuum_zlp``, ``vacuum_shifts``; ``params`` (the
        arguments) and ``DESCR``.

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

    def zlp_rows(row_shifts, row_counts, row_t):
        shape = zlp_shape(energy[None, :] - row_shifts[:, None], **shape_kw)
        shape /= shape.sum(axis=1, keepdims=True) * dispersion
        return shape, shape * (row_counts * np.exp(-row_t))[:, None]

    zlp = np.empty((n_spectra, n_channels))
    single = np.empty_like(zlp)
    plural = np.empty_like(zlp)
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
    # Everything above is in counts per eV; spectra count electrons per channel.
    zlp *= dispersion
    single *= dispersion
    plural *= dispersion
    inelastic = single + plural
    noise_free = zlp + inelastic
    spectra = rng.poisson(np.clip(noise_free, 0, None)).astype(np.float64)
    if read_noise > 0:
        spectra += rng.normal(0.0, read_noise, size=spectra.shape)

    ssd_unit = (
        _single_scattering_shape(energy[None, :] - shifts[:, None], **ssd_kw) / p_area
    )
    ssd = ssd_unit * (counts * np.exp(-thickness) * thickness * dispersion)[:, None]
    onset_amplitude = (
        counts * np.exp(-thickness) * thickness * onset_strength * dispersion / p_area
        if e_bg is not None
        else np.zeros(n_spectra)
    )
    x = np.linspace(-10 * fwhm, 20 * fwhm, 300001)
    above = x[zlp_shape(x, **shape_kw) >= 0.5]

    out_shape = image_shape if image_shape is not None else (n_spectra,)

    def shaped(a):
        return a.reshape(*out_shape, *a.shape[1:])

    data = Bunch(
        spectra=shaped(spectra),
        energy=energy,
        zlp=shaped(zlp),
        single_scattering=shaped(single),
        plural_scattering=shaped(plural),
        inelastic=shaped(inelastic),
        noise_free=shaped(noise_free),
        ssd=shaped(ssd),
        t_over_lambda=shaped(thickness),
        shifts=shaped(shifts),
        e_bg=e_bg,
        b=b,
        onset_amplitude=shaped(onset_amplitude),
        fwhm=float(above[-1] - above[0]),
        total_counts=shaped(counts),
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
        vacuum = rng.poisson(vac_zlp).astype(np.float64)
        if read_noise > 0:
            vacuum += rng.normal(0.0, read_noise, size=vacuum.shape)
        data.update(vacuum=vacuum, vacuum_zlp=vac_zlp, vacuum_shifts=vac_shifts)
    return data
