"""ZLPSubtractor: spectra in, zero-loss-free spectra with replica uncertainties out."""

import warnings
import zlib
from numbers import Integral, Real

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._noise import counting_variance, estimate_read_noise
from .._replicas import replica_quantiles
from .._validation import check_energy_axis, check_spectra, check_zlp_at_zero
from ..ensemble import ZLPEnsembleRegressor
from ..preprocessing import ZLPRegionMask, zlp_fwhm
from ..utils._sklearn_compat import Interval, StrOptions
from ._matching import match_zlp, vacuum_range
from ._point_table import tail_extrapolation
from ._result import ZLPSubtractionResult

__all__ = ["ZLPSubtractor", "default_regressor"]

_LOG_TOTAL = "log_total"


def default_regressor(random_state=None):
    """The ensemble :class:`ZLPSubtractor` fits when ``regressor=None``.

    The paper's architecture and 100 replicas, with a learning rate and epoch
    budget measured to fit the WS2 spectra's zero-loss peaks within a few per
    cent (benchmarks/README.md), and replicas with outlying chi^2 dropped.
    """
    return ZLPEnsembleRegressor(
        n_replicas=100,
        max_epochs=3000,
        lr=0.1,
        reject_outliers=3.0,
        n_jobs=-1,
        random_state=random_state,
    )


class ZLPSubtractor(TransformerMixin, BaseEstimator):
    """Subtract the zero-loss peak from EEL spectra with a replica ensemble.

    The method of Roest et al. (2021): a clone of ``regressor`` (by default a
    :class:`~sklearn_zlp.ZLPEnsembleRegressor` of 100 replicas) learns ln I_ZLP
    as a function of the energy loss and per-spectrum covariates from a point
    table built from the spectra; each replica's ZLP is matched to the data and
    subtracted, and the spread over replicas is the uncertainty.

    Specimen mode (``mode="specimen"``): each spectrum trains on region I
    (``|E| < dE_I``, ZLP-dominated), plus region-III pseudo-data (``E > dE_II``):
    points that push the ZLP to (nearly) zero where the inelastic signal
    dominates (``pseudo_data``); a penalty keeps the model
    monotonically falling on a grid over region II, where it is pure prediction.
    ``dE_I`` and ``dE_II`` come from ``regions`` (a
    :class:`~sklearn_zlp.ZLPRegionMask`). Vacuum mode (``mode="vacuum"``):
    spectra recorded in vacuum are all ZLP and train on every channel above the
    noise, e.g. at several exposure times and beam energies given as
    covariates, to predict the ZLP for a combination not trained on.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,)
        Energy loss of every channel in eV, strictly increasing. Spectra must be
        aligned (ZLP maximum at 0 eV), e.g. by :class:`~sklearn_zlp.ZeroLossAligner`.
    regressor : estimator, default=None
        Regressor on the point table with ``fit(X, y, sample_weight)`` and
        ``transform(X)`` returning one column per replica (in intensity units).
        A :class:`~sklearn_zlp.ZLPEnsembleRegressor` also gets the region-II
        monotonicity penalty, and its ``input_ranges`` (when None) are set as
        described under ``covariates``. None: :func:`default_regressor`.
    regions : ZLPRegionMask, default=None
        Determines dE_I and dE_II (specimen mode); cloned and fitted on the
        training spectra, its ``energy_axis`` set when None. None: automatic
        ``ZLPRegionMask()``.
    mode : {"specimen", "vacuum"}, default="specimen"
        What the training spectra are.
    covariates : tuple of str, default=("log_total",)
        Network inputs after the energy loss. ``"log_total"`` is ln N_tot, the
        logarithm of each spectrum's total counts, a thickness proxy computed from
        the spectrum. Every other name is a per-spectrum acquisition parameter
        (e.g. ``"exposure_time"``, ``"beam_energy"``) read from the trailing
        columns of ``X``, in the order given: ``X`` is then
        ``np.hstack([spectra, parameters])``, a route that survives Pipeline
        slicing and cross-validation. Covariates are scaled robustly: the range
        mapped to [0.1, 0.9] is the training range widened by
        ``max(1, range)`` (ln N_tot) or by half the range on both sides (others),
        so a new spectrum's covariate does not extrapolate, and a tiny spread
        between training spectra does not turn into steep structure.
    normalize : {"core", "total"} or None, default="core"
        The model learns each spectrum's ZLP divided by its ``"core"`` counts (the
        sum over ``|E| <= FWHM``, pure ZLP in any spectrum) or by its total
        counts; predictions are multiplied back. This makes the learnt shape
        independent of beam current and thickness; None models raw counts.
    sigma : {"auto", "counting", "spread"}, default="auto"
        Uncertainty of each training point: ``"counting"``: Poisson,
        ``sigma^2 = max(I, 1) + read_noise^2``; ``"spread"``: that plus the
        variance of the normalised intensity in each channel over the training
        spectra recorded with the same acquisition parameters (smoothed over
        0.1 eV), scaled back to counts;
        ``"auto"``: ``"spread"`` with 3 or more training spectra, else
        ``"counting"``.
    read_noise : float or "auto", default="auto"
        Detector read noise in counts per channel, added in quadrature (also to
        the data-noise draws of the bands). Give it where counts per channel
        are low: on synthetic spectra with 5 counts of read noise, FWHM 0.15 eV
        and 1e6 counts (tens of counts per channel at the onset) the 68%
        coverage of the true inelastic signal is 0.54-0.55 with 0 and
        0.62-0.63 with 5. ``"auto"`` measures it on the training spectra
        (:func:`~sklearn_zlp.estimate_read_noise`, leaving out three ZLP widths
        around 0 eV, at least 1 eV); the value used is ``read_noise_``. With 40
        counts of read noise (the WS2 detector has 42-55) the same coverage is
        0.14-0.16 with 0 and 0.63-0.65 with ``"auto"``, as with the true value.
    relative_sigma : float, default=0.0
        A relative uncertainty added in quadrature to every training point,
        ``(relative_sigma * I)^2``: how well a ZLP shape can be known at all
        (drift, detector nonlinearity), which keeps bright spectra's counting
        errors from making the fit stiff. Measured with ``pseudo_data="tail"``
        (sets as under ``pseudo_data``, two seeds): 0.01 and 0.02 leave the
        first two sets unchanged but lower the bright FWHM 0.6 eV set from
        0.91-0.99 to 0.63-0.98 and 0.29-0.85, so the default is 0.
    n_pseudo : int, default=32
        Region-III pseudo-data points per spectrum, spread evenly over
        ``[dE_II, 1.5 dE_II]`` (within the axis).
    n_monotonic : int, default=24
        Points per spectrum of the region-II grid on which the model is kept
        monotonically falling (0 switches the penalty off).
    pseudo_data : {"tail", "one"}, default="tail"
        Target of the region-III pseudo-data. ``"tail"``: the spectrum's own ZLP
        tail, a power law ``I ~ E^p`` fitted in ln-ln on the loss side over
        ``[dE_I / 2, dE_I)`` (ZLP-dominated by the definition of dE_I; ``p <= -1``)
        and extrapolated, not below 1 count, with a 10% (ln-space 0.1)
        uncertainty. A field-emission ZLP falls as a power law, not to zero:
        at an automatic dE_II it is still tens to hundreds of counts (synthetic
        spectra: 42 counts at 4.1 eV for FWHM 0.3 eV and 1e7 counts, 8.5 at 2.1
        eV for FWHM 0.15 eV and 1e6, 138 at 8.6 eV for FWHM 0.6 eV and 1e8; the
        extrapolation gave 44, 8.6 and 33), so pushing it to 1 count bends the
        model down through region II, or (bright, broad ZLPs) leaves the fit
        unconverged. ``"one"``: 1 count with an uncertainty of 0.5 counts (the
        paper's push to zero). Measured 68% coverage of
        the true inelastic signal over E_bg - 0.3 to 4 eV (6 synthetic spectra,
        dE_I/dE_II from vacuum spectra, 16 replicas x 2000 epochs, lr 0.1,
        read_noise 5 as generated, three seeds, linear percentiles) with
        ``"tail"`` / ``"one"``:
        FWHM 0.3 eV, t/lambda 0.3-0.7, 1e7 counts 0.77-0.83 / 0.84-0.89; FWHM
        0.15 eV, t/lambda 0.2-0.4, 1e6 counts 0.62-0.63 / 0.50; FWHM 0.6 eV,
        t/lambda 0.6-1.4, 1e8 counts 0.91-0.99 / 0.09-0.25. (Targeting the noise
        level sqrt(I) instead gave 0.10 on the first set.) The tail uncertainty 0.1 was chosen on these: 0.05
        gave 0.62-0.82 / 0.62-0.63 / 0.99, 0.2 gave 0.85-0.91 / 0.62 / 0.39-0.83
        and 1.0 lets replicas stay flat through region III (0.06-0.13 on the
        first and last set). On the WS2 spectra (five trained, one left out,
        100 replicas x 3000 epochs, unbiased percentiles) the onset at 2-3 eV
        stands 2.2-2.8 half-bands above zero instead of 1.5-1.9 with ``"one"``,
        the worst ZLP error over 0-1 eV is 0.027-0.046 (0.032-0.050), and the
        median below 1 eV stays within two half-bands of zero everywhere.
    match_width : float, default=0.5
        Width in eV of the matching interval: ``dE_0 = dE_I - match_width``
        (not below the half width at half maximum).
    data_noise : bool, default=True
        Give every replica its own Gaussian draw of the data's counting noise
        before subtracting, so that the 68% bands carry the data's uncertainty as
        well as the ZLP model's (Monte Carlo propagation; no linear error
        propagation). False: bands of the ZLP model only.
    energy_scale : {"auto", "asinh", "linear"}, default="auto"
        ``"asinh"``: the network sees ``asinh(E / w)`` with ``w`` the median FWHM
        of the training spectra (linear in the core, logarithmic in the tail),
        so that a narrow peak and a long tail are resolved alike; ``"linear"``:
        E itself, as in the paper; ``"auto"``: linear in specimen mode, asinh in
        vacuum mode. Measured: on synthetic specimen spectra asinh extrapolated
        worse through region II (68% coverage 0.46 against 0.91); on vacuum
        spectra over -4 to 10 eV it cut the median error of an unseen exposure
        time from 0.12 to 0.045.
    gain_side : {"data", "model"}, default="data"
        ZLP on the energy-gain side (E < 0): the data (subtracted spectrum zero
        there) or the same matching mirrored.
    batch_size : int, default=256
        Spectra processed at once in :meth:`transform` (memory: replicas x batch
        x channels floats).
    random_state : int, RandomState instance or None, default=None
        Seeds the regressor (when it has ``random_state=None``) and the data-noise
        draws.

    Attributes
    ----------
    regressor_ : estimator
        The fitted clone of ``regressor``.
    regions_ : ZLPRegionMask or None
        The fitted region mask (specimen mode).
    de1_, de2_ : ndarray of shape (n_spectra,)
        dE_I and dE_II of the training spectra in eV (vacuum mode: the range of
        channels trained on).
    energy_axis_ : ndarray of shape (n_channels,)
        The validated energy axis.
    energy_width_ : float or None
        ``w`` of the asinh energy input in eV; None when the input is linear.
    covariate_ranges_ : ndarray of shape (n_covariates, 2)
        Robust scaling range of every covariate.
    n_training_points_ : int
        Rows of the point table (data, not pseudo-data or penalty points).
    read_noise_ : float
        The read noise used: ``read_noise``, or its estimate with ``"auto"``.
    n_features_in_ : int
        Columns of X (channels plus acquisition parameters).

    See Also
    --------
    ZLPEnsembleRegressor : the replica ensemble.
    ZeroLossAligner : align spectra first.

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202, sections 2 and 3.

    Examples
    --------
    >>> from sklearn_zlp import ZLPEnsembleRegressor, ZLPSubtractor, ZeroLossAligner
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> data = make_synthetic_eels(4, e_bg=1.6, random_state=0)
    >>> reg = ZLPEnsembleRegressor(n_replicas=4, max_epochs=200, lr=0.05, random_state=0)
    >>> sub = ZLPSubtractor(energy_axis=data.energy, regressor=reg, random_state=0)
    >>> sub.fit_transform(data.spectra).shape
    (4, 2001)
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like"],
        "regressor": "no_validation",
        "regions": "no_validation",
        "mode": [StrOptions({"specimen", "vacuum"})],
        "covariates": [tuple, list],
        "normalize": [StrOptions({"core", "total"}), None],
        "sigma": [StrOptions({"auto", "counting", "spread"})],
        "read_noise": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "relative_sigma": [Interval(Real, 0, None, closed="left")],
        "n_pseudo": [Interval(Integral, 0, None, closed="left")],
        "n_monotonic": [Interval(Integral, 0, None, closed="left")],
        "pseudo_data": [StrOptions({"one", "tail"})],
        "match_width": [Interval(Real, 0, None, closed="left")],
        "data_noise": ["boolean"],
        "energy_scale": [StrOptions({"auto", "asinh", "linear"})],
        "gain_side": [StrOptions({"data", "model"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        energy_axis=None,
        *,
        regressor=None,
        regions=None,
        mode="specimen",
        covariates=(_LOG_TOTAL,),
        normalize="core",
        sigma="auto",
        read_noise="auto",
        relative_sigma=0.0,
        n_pseudo=32,
        n_monotonic=24,
        pseudo_data="tail",
        match_width=0.5,
        data_noise=True,
        energy_scale="auto",
        gain_side="data",
        batch_size=256,
        random_state=None,
    ):
        self.energy_axis = energy_axis
        self.regressor = regressor
        self.regions = regions
        self.mode = mode
        self.covariates = covariates
        self.normalize = normalize
        self.sigma = sigma
        self.read_noise = read_noise
        self.relative_sigma = relative_sigma
        self.n_pseudo = n_pseudo
        self.n_monotonic = n_monotonic
        self.pseudo_data = pseudo_data
        self.match_width = match_width
        self.data_noise = data_noise
        self.energy_scale = energy_scale
        self.gain_side = gain_side
        self.batch_size = batch_size
        self.random_state = random_state

    # -- input handling ------------------------------------------------------------

    # ln-space uncertainty of the "tail" pseudo-data (see ``pseudo_data``)
    _tail_sigma = 0.1

    def _acquisition_names(self):
        return [c for c in self.covariates if c != _LOG_TOTAL]

    def _split_input(self, X, reset):
        """Spectra, acquisition parameters and covariate table of X (validated)."""
        X = check_spectra(X)
        n_acq = len(self._acquisition_names())
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} columns but this ZLPSubtractor was fitted on "
                f"{self.n_features_in_} ({self.n_features_in_ - n_acq} channels plus "
                f"{n_acq} acquisition parameters); pass spectra on the same axis."
            )
        spectra, acquisition = X[:, : X.shape[1] - n_acq], X[:, X.shape[1] - n_acq :]
        energy = check_energy_axis(self.energy_axis, spectra.shape[1])
        if n_acq and X.shape[1] <= n_acq:
            raise ValueError(
                f"covariates {self.covariates} name {n_acq} acquisition parameters read "
                f"from the last columns of X, but X has only {X.shape[1]} columns; "
                "append them with np.hstack([spectra, parameters])."
            )
        check_zlp_at_zero(spectra, energy)
        return spectra, acquisition, energy

    def _covariate_table(self, spectra, acquisition):
        columns, n = [], 0
        for name in self.covariates:
            if name == _LOG_TOTAL:
                total = spectra.sum(axis=1)
                if np.any(total <= 0):
                    raise ValueError(
                        f"{int(np.sum(total <= 0))} spectra have a total of <= 0 counts, "
                        "so ln N_tot is undefined; remove empty spectra or drop "
                        "'log_total' from covariates."
                    )
                columns.append(np.log(total))
            else:
                columns.append(acquisition[:, n])
                n += 1
        return np.column_stack(columns) if columns else np.empty((spectra.shape[0], 0))

    def _norm(self, spectra, energy, fwhm):
        """Per-spectrum divisor of the modelled intensity (``fwhm``: zlp_fwhm's)."""
        if self.normalize is None:
            return np.ones(spectra.shape[0])
        if self.normalize == "total":
            return spectra.sum(axis=1)
        fwhm = np.where(np.isfinite(fwhm), fwhm, 2 * (energy[1] - energy[0]))
        core = np.array(
            [s[np.abs(energy) <= w].sum() for s, w in zip(spectra, fwhm, strict=True)]
        )
        if np.any(core <= 0):
            raise ValueError(
                "a spectrum has no positive counts within one FWHM of 0 eV; check "
                "that the spectra are aligned and not empty, or use normalize=None."
            )
        return core

    def _read_noise(self, spectra, energy, fwhm):
        """``read_noise``, or with ``"auto"`` its estimate from the training spectra."""
        if self.read_noise != "auto":
            return float(self.read_noise)
        width = np.nanmedian(fwhm)
        exclude = max(1.0, 3.0 * float(width)) if np.isfinite(width) else 1.0
        try:
            return estimate_read_noise(spectra, energy, exclude=exclude)
        except ValueError as short:
            warnings.warn(
                f"read_noise='auto' cannot be measured on these spectra ({short}); "
                "using 0. Give the detector's read noise in counts per channel "
                "(read_noise=...) if counts per channel are low.",
                UserWarning,
                stacklevel=3,
            )
            return 0.0

    def _variance(self, spectra, norm, energy, acquisition):
        """Per-channel variance in counts^2 used for the chi^2 and the noise draws.

        The spread term is the variance of the normalised spectra within each
        group of spectra recorded with the same acquisition parameters (all
        spectra when there are none), so systematic differences between
        acquisitions are not mistaken for noise.
        """
        variance = (
            counting_variance(spectra, self.read_noise_)
            + (self.relative_sigma * np.maximum(spectra, 0.0)) ** 2
        )
        use_spread = self.sigma == "spread" or (
            self.sigma == "auto" and spectra.shape[0] >= 3
        )
        if not use_spread:
            return variance
        scaled = spectra / norm[:, None]
        width = max(5, int(round(0.1 / (energy[1] - energy[0]))))
        _, group = np.unique(acquisition, axis=0, return_inverse=True)
        for g in np.unique(group):
            members = np.flatnonzero(group.ravel() == g)
            if members.size < 2:
                continue
            spread = ndimage.uniform_filter1d(
                np.var(scaled[members], axis=0, ddof=1), width, mode="nearest"
            )
            variance[members] += spread[None, :] * norm[members, None] ** 2
        return variance

    # -- fitting -------------------------------------------------------------------

    def _training_ranges(self, spectra, energy):
        """(de1, de2) per spectrum and the fitted region mask (None in vacuum mode)."""
        if self.mode == "vacuum":
            de1, de2 = vacuum_range(spectra, energy, self.read_noise_)
            return de1, de2, None
        mask = ZLPRegionMask() if self.regions is None else clone(self.regions)
        if mask.get_params().get("energy_axis") is None:
            mask.set_params(energy_axis=energy)
        mask.fit(spectra)
        de1, de2 = mask.edges(spectra)
        return np.asarray(de1, dtype=float), np.asarray(de2, dtype=float), mask

    def _point_table(self, spectra, energy, covariates, norm, variance, de1, de2, width):
        """Training points, targets, weights, monotonic grid of all spectra."""
        rows, targets, weights, grid = [], [], [], []
        dispersion = energy[1] - energy[0]
        n_points = 0
        for i, s in enumerate(spectra):
            cov = covariates[i]
            if self.mode == "vacuum":
                chosen = (energy >= -de1[i]) & (energy <= de2[i]) & (s > 0)
            else:
                chosen = (np.abs(energy) < de1[i]) & (s > 0)
            if chosen.sum() < 5:
                raise ValueError(
                    f"spectrum {i} has only {int(chosen.sum())} positive channels in its "
                    f"training region (|E| < {de1[i]:.3g} eV); widen the region (larger "
                    "dE_I) or use a finer energy axis."
                )
            e = energy[chosen]
            rows.append(
                np.column_stack([self._feature(e, width), np.tile(cov, (e.size, 1))])
            )
            targets.append(s[chosen] / norm[i])
            weights.append(norm[i] ** 2 / variance[i, chosen])
            n_points += e.size
            if self.mode == "specimen" and self.n_pseudo > 0:
                stop = min(1.5 * de2[i], energy[-1])
                if stop - de2[i] < dispersion:
                    raise ValueError(
                        f"spectrum {i}: region III (E > dE_II = {de2[i]:.3g} eV) lies "
                        f"beyond the axis end {energy[-1]:.3g} eV; lower dE_II or record "
                        "a longer energy range."
                    )
                e3 = np.linspace(de2[i], stop, self.n_pseudo)
                rows.append(
                    np.column_stack([self._feature(e3, width), np.tile(cov, (e3.size, 1))])
                )
                if self.pseudo_data == "tail":
                    level = tail_extrapolation(s, energy, de1[i], e3)
                    targets.append(level / norm[i])
                    weights.append((norm[i] / (self._tail_sigma * level)) ** 2)
                else:  # "one": 1 count with a 0.5-count uncertainty
                    targets.append(np.full(e3.size, 1.0 / norm[i]))
                    weights.append(np.full(e3.size, (norm[i] / 0.5) ** 2))
            if self.mode == "specimen" and self.n_monotonic > 1:
                e2 = np.linspace(de1[i], de2[i], self.n_monotonic)
                grid.append(
                    np.column_stack([self._feature(e2, width), np.tile(cov, (e2.size, 1))])
                )
        X = np.vstack(rows)
        monotonic = np.vstack(grid) if grid else None
        return X, np.concatenate(targets), np.concatenate(weights), monotonic, n_points

    @staticmethod
    def _feature(energy, width):
        """Network input for the energy loss: asinh(E / w) or E itself.

        asinh is linear within the ZLP core (|E| < w, the median FWHM) and
        logarithmic in the tails, so the narrow peak and the long tail span
        comparable parts of the scaled input range. ``width`` None: linear.
        """
        return energy if width is None else np.arcsinh(energy / width)

    def _robust_ranges(self, X_points, covariates):
        ranges = [[X_points[:, 0].min(), X_points[:, 0].max()]]
        for j, name in enumerate(self.covariates):
            low, high = covariates[:, j].min(), covariates[:, j].max()
            span = high - low
            pad = max(1.0, span) if name == _LOG_TOTAL else max(0.5 * span, 1e-3)
            if name != _LOG_TOTAL and span == 0:
                pad = max(abs(low) * 0.5, 1.0)
            ranges.append([low - pad, high + pad])
        return np.array(ranges)

    def fit(self, X, y=None):
        """Fit the ZLP replica ensemble on the spectra's training regions.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra (counts) on ``energy_axis``, followed by the
            acquisition parameters named in ``covariates``, if any.
        y : None
            Ignored.

        Returns
        -------
        self : ZLPSubtractor
            Fitted subtractor.
        """
        self._validate_params()
        spectra, acquisition, energy = self._split_input(X, reset=True)
        covariates = self._covariate_table(spectra, acquisition)
        fwhm = zlp_fwhm(spectra, energy)
        self.read_noise_ = self._read_noise(spectra, energy, fwhm)
        norm = self._norm(spectra, energy, fwhm)
        variance = self._variance(spectra, norm, energy, acquisition)
        de1, de2, mask = self._training_ranges(spectra, energy)
        if self.mode == "specimen" and np.any(de1 >= de2):
            bad = int(np.flatnonzero(de1 >= de2)[0])
            raise ValueError(
                f"spectrum {bad}: dE_I = {de1[bad]:.3g} eV is not below dE_II = "
                f"{de2[bad]:.3g} eV; set regions=ZLPRegionMask(de1=..., de2=...) with "
                "dE_I < dE_II."
            )
        scale = self.energy_scale
        if scale == "auto":
            scale = "asinh" if self.mode == "vacuum" else "linear"
        width = None
        if scale == "asinh":
            width = np.nanmedian(fwhm)
            width = float(width) if np.isfinite(width) else 1.0
        points, target, weight, monotonic, n_points = self._point_table(
            spectra, energy, covariates, norm, variance, de1, de2, width
        )
        rng = check_random_state(self.random_state)
        regressor = default_regressor() if self.regressor is None else clone(self.regressor)
        params = regressor.get_params()
        if "random_state" in params and params["random_state"] is None:
            regressor.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        fit_kwargs = {"sample_weight": weight}
        if isinstance(regressor, ZLPEnsembleRegressor):
            if params.get("input_ranges") is None:
                all_points = points if monotonic is None else np.vstack([points, monotonic])
                regressor.set_params(
                    input_ranges=self._robust_ranges(all_points, covariates)
                )
            if monotonic is not None:
                regressor.set_params(monotonic_X=monotonic)
        regressor.fit(points, target, **fit_kwargs)
        state = dict(
            regressor_=regressor,
            regions_=mask,
            de1_=de1,
            de2_=de2,
            energy_axis_=energy,
            energy_width_=width,
            covariate_ranges_=self._robust_ranges(points, covariates)[1:],
            n_training_points_=n_points,
            _noise_seed_=int(rng.randint(np.iinfo(np.int32).max)),
        )
        self.__dict__.update(state)
        return self

    # -- prediction ----------------------------------------------------------------

    def _edges(self, spectra):
        if self.mode == "vacuum":
            return vacuum_range(spectra, self.energy_axis_, self.read_noise_)
        de1, de2 = self.regions_.edges(spectra)
        return np.asarray(de1, dtype=float), np.asarray(de2, dtype=float)

    def _model_replicas(self, spectra, covariates, norm):
        """ZLP of every replica for every spectrum, (n_replicas, n_spectra, n_channels)."""
        energy = self.energy_axis_
        n_channels = energy.size
        points = np.column_stack(
            [
                np.tile(self._feature(energy, self.energy_width_), spectra.shape[0]),
                np.repeat(covariates, n_channels, axis=0),
            ]
        )
        replicas = np.asarray(self.regressor_.transform(points), dtype=np.float64)
        replicas = replicas.T.reshape(-1, spectra.shape[0], n_channels)
        return replicas * norm[None, :, None]

    def _model_for(self, X):
        """Validated spectra, axis, FWHMs and every replica's ZLP model for X."""
        check_is_fitted(self)
        spectra, acquisition, energy = self._split_input(X, reset=False)
        covariates = self._covariate_table(spectra, acquisition)
        fwhm = zlp_fwhm(spectra, energy)
        model = self._model_replicas(spectra, covariates, self._norm(spectra, energy, fwhm))
        return spectra, energy, fwhm, model

    def subtract(self, X):
        """Matched ZLP and subtracted spectrum of every replica, with bands.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).

        Returns
        -------
        result : ZLPSubtractionResult
            Replicas, medians and 68% bands of the model ZLP, matched ZLP and
            subtracted spectra, and the region edges used.
        """
        spectra, energy, fwhm, model = self._model_for(X)
        de1, de2 = self._edges(spectra)
        half = np.where(np.isfinite(fwhm), 0.5 * fwhm, 0.0)
        de0 = np.maximum(de1 - self.match_width, half)
        zlp = match_zlp(model, spectra, energy, de0, de1, mirror=self.gain_side == "model")
        data = np.broadcast_to(spectra, zlp.shape)
        if self.data_noise:
            # Seeded by the spectra's content: repeated calls agree, batches differ.
            content = zlib.crc32(np.ascontiguousarray(spectra).tobytes())
            rng = np.random.default_rng([self._noise_seed_, content])
            sigma = np.sqrt(counting_variance(spectra, self.read_noise_))
            data = rng.normal(size=zlp.shape)
            data *= sigma[None]
            data += spectra[None]
        subtracted = np.subtract(data, zlp, out=data if self.data_noise else None)
        return ZLPSubtractionResult(
            energy=energy.copy(),
            spectra=spectra,
            zlp_model=model,
            zlp=zlp,
            subtracted=subtracted,
            de0=de0,
            de1=de1,
            de2=de2,
        )

    def transform_replicas(self, X):
        """Subtracted spectra of every replica.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).

        Returns
        -------
        replicas : ndarray of shape (n_replicas, n_spectra, n_channels)
        """
        return self.subtract(X).subtracted

    def transform(self, X):
        """Median subtracted spectra.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).

        Returns
        -------
        subtracted : ndarray of shape (n_spectra, n_channels)
            Median over replicas of data minus matched ZLP.
        """
        check_is_fitted(self)
        X = check_spectra(X, copy=False)  # each batch is validated (and copied) below
        out = []
        for start in range(0, X.shape[0], self.batch_size):
            out.append(self.subtract(X[start : start + self.batch_size]).subtracted_median)
        return np.vstack(out)

    def predict_zlp(self, X, quantiles=(0.16, 0.5, 0.84)):
        """Quantiles over replicas of the model ZLP (before matching).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Spectra (their covariates and normalisation are used).
        quantiles : sequence of float, default=(0.16, 0.5, 0.84)
            Quantiles in [0, 1].

        Returns
        -------
        zlp : ndarray of shape (n_quantiles, n_spectra, n_channels)
        """
        model = self._model_for(X)[3]
        return replica_quantiles(model, quantiles)

    def score(self, X, y=None):
        """Negative chi^2 per point of the median ZLP model on X's training regions.

        Region I of every spectrum in specimen mode (the same dE_I rule as in
        fit), every channel above the noise in vacuum mode, with counting
        uncertainties (and read noise). Greater is better, so GridSearchCV can
        tune region or network parameters on held-out spectra with it.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Held-out aligned spectra (and acquisition parameters).
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-mean((I - ZLP_median)^2 / sigma^2)``.
        """
        spectra, energy, _, model = self._model_for(X)
        model = np.median(model, axis=0)
        de1, de2 = self._edges(spectra)
        if self.mode == "vacuum":
            used = (energy[None] >= -de1[:, None]) & (energy[None] <= de2[:, None])
        else:
            used = np.abs(energy[None]) < de1[:, None]
        used &= spectra > 0
        variance = counting_variance(spectra, self.read_noise_)
        return -float(np.mean(((spectra - model) ** 2 / variance)[used]))

    def get_feature_names_out(self, input_features=None):
        """Channel names of the subtracted spectra ("E=<energy in eV>")."""
        check_is_fitted(self)
        return np.array([f"E={e:.4f}" for e in self.energy_axis_], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        return tags
