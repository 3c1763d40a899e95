"""ZLPSubtractor: spectra in, zero-loss-free spectra with replica uncertainties out."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ..preprocessing._peak import shared_peaks
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._transaction import transactional_fit
from ._clusters import cluster_training_table
from ._defaults import attach_table, default_regressor, fresh_regressor
from ._inputs import LOG_TOTAL, validate_input
from ._point_table import robust_ranges, training_table
from ._prediction import SubtractionMethods
from ._quality import fit_quality
from ._scatter import training_scatter

__all__ = ["ZLPSubtractor", "default_regressor"]


class ZLPSubtractor(TransformerMixin, SubtractionMethods, BaseEstimator):
    """Subtract the zero-loss peak from EEL spectra with a replica ensemble.

    The method of Roest et al. (2021): a clone of ``regressor`` (by default a
    :class:`~sklearn_zlp.ZLPEnsembleRegressor` of 100 replicas) learns ln I_ZLP as a
    function of the energy loss and per-spectrum covariates from a point table built
    from the spectra; each replica's ZLP is matched to the data and subtracted, and the
    spread over replicas is the uncertainty.

    Specimen mode (``mode="specimen"``): each spectrum trains on region I (``|E| <
    dE_I``, ZLP-dominated), plus region-III pseudo-data (``E > dE_II``): points that
    hold the ZLP to its power-law tail where the inelastic signal dominates
    (``pseudo_data``; with vacuum spectra through region II as well, where their tail is
    the ZLP's alone); a penalty keeps the model monotonically falling on a grid over
    region II. ``dE_I`` and ``dE_II`` come from ``regions`` (a
    :class:`~sklearn_zlp.ZLPRegionMask`). Vacuum mode (``mode="vacuum"``): spectra
    recorded in vacuum are all ZLP and train on every channel above the noise, e.g. at
    several exposure times and beam energies given as covariates, to predict the ZLP for
    a combination not trained on.

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
        described under ``covariates``. None: :func:`default_regressor`, built
        in :meth:`fit` (so nested parameters such as ``regressor__lr`` need a
        regressor given here; its ``n_jobs`` is this estimator's ``n_jobs``).
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
    relative_sigma : float or "auto", default="auto"
        A relative uncertainty added in quadrature to every training point,
        ``(relative_sigma * I)^2``: how well a ZLP shape can be known at all
        (drift, detector nonlinearity), which keeps bright spectra's counting
        errors from making the fit stiff. Measured with ``pseudo_data="tail"``
        (sets as under ``pseudo_data``, two seeds): 0.01 and 0.02 leave the
        first two sets unchanged but lower the bright FWHM 0.6 eV set from
        0.91-0.99 to 0.63-0.98 and 0.29-0.85, so ``"auto"`` is 0 in specimen
        mode; 0.02 in vacuum mode, where 0 left the model 1.29-1.38 (WS2) and
        2.5 (synthetic) times the held-out tails (see ``vacuum_residuals``).
    n_pseudo : int, default=32
        Region-III pseudo-data points per spectrum, spread evenly over
        ``[dE_II, 1.5 dE_II]`` (within the axis).
    n_monotonic : int, default=24
        Points per spectrum of the region-II grid on which the model is kept
        monotonically falling (0 switches the penalty off).
    pseudo_data : {"tail", "tail_region_iii", "one"}, default="tail"
        Target of the pseudo-data. ``"tail"``: the ZLP's tail, a power law
        ``I ~ E^p`` (``p <= -1``), not below 1 count, with a 10% (ln-space 0.1)
        uncertainty, over region III; fitted in ln-ln on the spectrum's loss
        side over ``[dE_I / 2, dE_I)`` (ZLP-dominated by the definition of
        dE_I), or, with vacuum spectra in ``regions``, on their mean over
        ``[dE_I, 3 dE_I)`` (where it is the ZLP's alone) scaled to the
        spectrum's counts below dE_I, and then through region II as well
        (``n_pseudo`` more points over ``(dE_I, dE_II]``), which a network fed
        E otherwise bridges on a chord above a power-law tail. Zoo
        ``read_noise_0`` (1e6 counts, FWHM 0.3 eV, gap 1.6 eV, two seeds):
        model ZLP over ``[dE_I, dE_I + 0.8 eV]`` +11.4% -> +3.3% of the truth,
        E_bg +0.175 -> +0.049 eV, 68% coverage 0.42 -> 0.73. A field-emission
        ZLP falls as a power law, not to zero: at an automatic dE_II it is
        still tens to hundreds of counts (synthetic spectra: 42 at 4.1 eV for
        FWHM 0.3 eV and 1e7 counts, 8.5 at 2.1 eV for FWHM 0.15 eV and 1e6, 138
        at 8.6 eV for FWHM 0.6 eV and 1e8; the law 44, 8.6 and 144, the last 33
        from the spectrum's own channels), so pushing it to 1 count bends the
        model down through region II, or (bright, broad ZLPs) leaves the fit
        unconverged (measured in ``sklearn_zlp/subtraction/_point_table.py``).
        ``"tail_region_iii"``: that law over region III only. ``"one"``: 1 count
        with an uncertainty of 0.5 counts (the paper's push to zero).
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
        vacuum mode. In specimen mode each wins somewhere (benchmarks/README.md,
        "Region II"): at 1e6 counts (FWHM 0.3 eV, gap at dE_I) and region-III
        pseudo-data only, asinh follows the power-law tail where E bridges
        region II 8-13% above it (E_bg +0.09 against +0.15 eV, 36 spectra;
        with vacuum spectra ``pseudo_data`` covers region II, and E is within
        0-5%); at FWHM 0.6 eV and 1e8 counts asinh
        lies 20-60% below the tail beyond dE_I (68% coverage of the inelastic
        signal 0.04). On vacuum spectra asinh cut the median error of an
        unseen exposure time from 0.12 to 0.045.
    gain_side : {"data", "model"}, default="data"
        ZLP on the energy-gain side (E < 0): the data (subtracted spectrum zero
        there) or the same matching mirrored.
    band_scale : float, default=1.0
        Recalibration of the model's uncertainty: every replica's ZLP is moved
        away from (> 1) or towards (< 1) the replicas' median by this factor in
        ln I, channel by channel, before matching; the median stays. It widens
        or narrows the bands of the model and matched ZLP, of the subtracted
        spectra (whose data-noise part stays) and of t/lambda. Set it after
        fitting to what :func:`~sklearn_zlp.subtraction.calibrate_band_scale`
        finds on spectra with a known truth; 1: the replicas as trained.
    vacuum_residuals : bool, default=True
        Vacuum mode: each replica is corrected by the relative residual the
        training spectra share against it (where counts make it significant),
        brought within the data's precision there, and given a draw of their
        spectrum-to-spectrum scatter: the bands are those of a new spectrum's
        ZLP (``predict_zlp(X, counting_noise=True)``: of its recorded counts).
        Leave one out, 16 x 2000: WS2 data inside that 68% band over
        -0.2..0.3 eV on 0.45/0.75/0.80 of the channels per fold (False:
        0.35/0.10/0.20); synthetic truth 0.65-0.91 over -2..4 eV (False:
        0.00-0.74), tails over 1.5-4 eV 1.03-1.06 x truth (False: 1.47-1.74).
        See :mod:`sklearn_zlp.subtraction._scatter`.
    training : {"spectra", "clusters"}, default="spectra"
        ``"spectra"``: the networks train on every training spectrum, with
        Gaussian replicas. ``"clusters"`` (spectrum images; Roest et al. 2021,
        section 3.2): every replica trains on one random spectrum of every
        thickness cluster of ``regions``, a ``ZLPRegionMask(per="cluster")``
        (:mod:`sklearn_zlp.subtraction._clusters`); it costs as much as
        ``n_clusters`` spectra whatever the image's size. ``training_chi2_``,
        ``spectrum_chi2_``, ``heldout_chi2_``, ``training_status_``: per cluster.
    batch_size : int, default=32
        Spectra evaluated at once by every method after :meth:`fit`. Results
        do not depend on it (nor on the other spectra of a call or their
        order): it only bounds memory, see Notes.
    n_jobs : int, default=None
        Parallel training jobs of the default regressor (``regressor=None``):
        -1 for all cores, None for one unless in a
        :func:`joblib.parallel_backend` context. Results do not depend on it.
        A regressor given as ``regressor`` keeps its own ``n_jobs``.
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
    trained_range_ : ndarray of shape (2,)
        Lowest and highest energy in eV of the training points (data and
        region-III pseudo-data). Beyond them every replica's ZLP is continued
        as a power law from the edge (at most -1): in specimen mode on the loss
        side with the spectrum's own tail law (the one its pseudo-data
        follow), otherwise with ``tail_powers_``; in vacuum mode from halfway
        to the edges, where the networks have not yet flattened on counts at
        the noise. A network's prediction there is a flat extrapolation
        (measured: 5 to 1000 times the true ZLP on sharp vacuum peaks, and a
        t/lambda bias of -0.012 to -0.017 on thick specimens with a long axis).
    tail_powers_ : ndarray of shape (2,)
        Median power of the training spectra's ZLP tails on the gain and the
        loss side, fitted in ln-ln over the outer half of their trained
        channels (NaN where none could be fitted).
    vacuum_residuals_ : tuple of ndarray or None
        Vacuum mode, 2 or more spectra: ln-space corrections (n_replicas,
        n_channels), collapse factors (n_channels,) and scatter shapes
        (n_shapes, n_channels), see ``vacuum_residuals``; else None.
    read_noise_ : float
        The read noise used: ``read_noise``, or its estimate with ``"auto"``.
    n_features_in_ : int
        Columns of X (channels plus acquisition parameters).

    See Also
    --------
    ZLPEnsembleRegressor : the replica ensemble.
    ZeroLossAligner : align spectra first.
    ZLPSubtractionResult : what :meth:`subtract` returns.

    Notes
    -----
    Every result for a spectrum is a function of the fitted subtractor, that spectrum
    (with its acquisition parameters) and ``random_state`` alone: the data-noise draws
    of a spectrum come from a random stream seeded by ``random_state`` and a digest of
    the spectrum's own values, and the regions, widths, normalisation, matching and
    replica statistics are computed spectrum by spectrum. Results are bitwise the same
    whatever the batch, ``batch_size`` or order of the spectra.

    Memory. With ``R`` replicas, ``C`` channels, ``F`` columns of ``X`` and
    ``b = min(batch_size, n_spectra)``, the peak of a call is about::

        8 n_spectra F  +  outputs  +  4 x 8 R b C   bytes

    the validated copy of ``X``, the outputs, and one batch's replica arrays
    with the temporaries of the networks and of the percentiles (measured at
    R=100, b=32, C=1981, where ``8 R b C`` is 48 MiB: 3.9 such arrays for
    :meth:`subtract`, 2.5 for :meth:`transform`). The outputs are
    ``8 n_spectra C`` bytes for :meth:`transform`, 9 times that for
    :meth:`subtract` (three medians and three bands), ``8 R n_spectra C``
    for :meth:`transform_replicas` and 3 times that for ``subtract(X,
    keep_replicas=True)``; :meth:`subtract_batches` holds one batch's
    replicas at a time. Measured: ``subtract`` of 20000 spectra of 101
    channels with 8 replicas grew the process by 155 MiB, its outputs and
    input copy being 154 MiB (the replica arrays of all spectra would be
    370 MiB). ``batch_size=32`` also took less CPU time than 256 (4.3-4.8 s
    against 5.8-6.3 s for ``transform`` of 384 WS2 spectra, 100 replicas).

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202, sections 2 and 3.

    Examples
    --------
    >>> from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor, datasets
    >>> data = datasets.make_synthetic_eels(4, e_bg=1.6, n_vacuum=2, random_state=0)
    >>> reg = ZLPEnsembleRegressor(n_replicas=4, max_epochs=200, lr=0.05, random_state=0)
    >>> regions = ZLPRegionMask(vacuum=data.vacuum)  # dE_I where the specimen deviates
    >>> sub = ZLPSubtractor(data.energy, regressor=reg, regions=regions, random_state=0)
    >>> sub.fit_transform(data.spectra).shape
    (4, 2001)
    >>> result = sub.subtract(data.spectra)
    >>> result.subtracted_median.shape, result.subtracted_band.shape
    ((4, 2001), (2, 4, 2001))
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "regressor": "no_validation",
        "regions": "no_validation",
        "mode": [StrOptions({"specimen", "vacuum"})],
        "covariates": [tuple, list],
        "normalize": [StrOptions({"core", "total"}), None],
        "sigma": [StrOptions({"auto", "counting", "spread"})],
        "read_noise": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "relative_sigma": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "n_pseudo": [Interval(Integral, 0, None, closed="left")],
        "n_monotonic": [Interval(Integral, 0, None, closed="left")],
        "pseudo_data": [StrOptions({"one", "tail", "tail_region_iii"})],
        "match_width": [Interval(Real, 0, None, closed="left")],
        "data_noise": ["boolean"],
        "energy_scale": [StrOptions({"auto", "asinh", "linear"})],
        "gain_side": [StrOptions({"data", "model"})],
        "band_scale": [Interval(Real, 0, None, closed="neither")],
        "vacuum_residuals": ["boolean"],
        "training": [StrOptions({"spectra", "clusters"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        energy_axis=None,
        *,
        regressor=None,
        regions=None,
        mode="specimen",
        covariates=(LOG_TOTAL,),
        normalize="core",
        sigma="auto",
        read_noise="auto",
        relative_sigma="auto",
        n_pseudo=32,
        n_monotonic=24,
        pseudo_data="tail",
        match_width=0.5,
        data_noise=True,
        energy_scale="auto",
        gain_side="data",
        band_scale=1.0,
        vacuum_residuals=True,
        training="spectra",
        batch_size=32,
        n_jobs=None,
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
        self.band_scale = band_scale
        self.vacuum_residuals = vacuum_residuals
        self.training = training
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def set_params(self, **params):
        """Set parameters; nested ones (``regressor__lr``) need that estimator given.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : ZLPSubtractor
            This estimator.
        """
        fixes = {
            "regressor": "ZLPSubtractor(n_jobs=...) sets the default ensemble's jobs; "
            "for its other parameters pass it, e.g. set_params(regressor="
            "sklearn_zlp.subtraction.default_regressor(), {key}=...)",
            "regions": "pass the mask, e.g. set_params(regions=ZLPRegionMask(), {key}=...)",
        }
        for name, fix in fixes.items():
            nested = sorted(k for k in params if k.startswith(f"{name}__"))
            if nested and params.get(name, getattr(self, name)) is None:
                raise ValueError(
                    f"cannot set {', '.join(nested)}: {name} is None, so its default is "
                    f"built only in fit. {fix.format(key=nested[0])}."
                )
        return super().set_params(**params)

    # -- fitting -------------------------------------------------------------------

    @shared_peaks()
    def fit(self, X, y=None):
        """Fit the ZLP replica ensemble on the spectra's training regions.

        Transactional: if it raises or is interrupted, the subtractor keeps its
        previous fit (or stays unfitted).

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
        return self._fit(validate_input(X, self.covariates, self.energy_axis))

    @shared_peaks()
    def fit_transform(self, X, y=None):
        """Fit on X and return its median subtracted spectra (validating X once).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).
        y : None
            Ignored.

        Returns
        -------
        subtracted : ndarray of shape (n_spectra, n_channels)
            As :meth:`transform`.
        """
        self._validate_params()
        data = validate_input(X, self.covariates, self.energy_axis)
        return self._fit(data)._median_subtracted(data)

    @transactional_fit
    def _fit(self, data):
        clusters = self.training == "clusters"
        table = None if clusters else training_table(self, data)
        rng = check_random_state(self.random_state)
        regressor = fresh_regressor(self, rng)
        fit_kwargs = {}
        if clusters:
            table, fit_kwargs["replica_targets"] = cluster_training_table(
                self, data, regressor, rng
            )
        points, target, covariates = table.points, table.target, table.covariates
        fit_kwargs["sample_weight"] = table.weight
        attach_table(regressor, table, self.covariates)
        regressor.fit(points, target, **fit_kwargs)
        quality = fit_quality(regressor, table, len(table.covariates))
        # assigned together at the end: nothing fitted changes before this line
        self.__dict__.update(
            n_features_in_=data.n_features,
            read_noise_=table.read_noise,
            relative_sigma_=table.relative_sigma,
            training_covariates_=covariates,
            fwhm_=table.fwhm,
            training_chi2_=quality["training_chi2"],
            spectrum_chi2_=quality["spectrum_chi2"],
            heldout_chi2_=quality["heldout_chi2"],
            heldout_residual_quantiles_=quality["heldout_quantiles"],
            regressor_=regressor,
            regions_=table.regions,
            de1_=table.de1,
            de2_=table.de2,
            energy_axis_=data.energy,
            energy_width_=table.width,
            covariate_ranges_=robust_ranges(points, covariates, self.covariates)[1:],
            n_training_points_=table.n_points,
            trained_range_=table.energy_range,
            tail_powers_=table.tail_powers,
            _noise_seed_=int(rng.randint(np.iinfo(np.int32).max)),
        )
        self.vacuum_residuals_ = training_scatter(self, data)
        if clusters:  # the clusters' medians: a pass over every pixel costs as much as maps
            data = data._replace(
                spectra=table.medians, acquisition=table.cluster_acquisition
            )
        self.training_status_ = self._statuses(data)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # dense, finite counts, possibly negative (dark reference, read noise)
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.input_tags.positive_only = False
        tags.requires_fit = True
        tags.target_tags.required = False
        # seeded by random_state: the same fit and draws every time
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float64"]  # always float64 out
        return tags
