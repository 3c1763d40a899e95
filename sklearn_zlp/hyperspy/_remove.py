"""remove_zlp(): a HyperSpy spectrum (image) in, the ZLP and the subtracted spectra out."""

import numbers

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from ..maps._compute import status_names
from ..preprocessing import ZeroLossAligner, ZLPRegionMask
from ..subtraction import ZLPSubtractor, default_regressor
from ..subtraction._inputs import LOG_TOTAL
from ._inputs import check_signal, vacuum_spectra
from ._signals import _SPECTRA, ZLPSignals, packed_width

__all__ = ["remove_zlp"]

# Spectra per task for signals in memory (each task holds about 16 x 8 bytes per
# channel and spectrum: its outputs, the subtraction's medians and bands, one batch
# of replicas); results do not depend on it.
_BLOCK = 1024


def _packed_block(chunk, aligner, subtractor, level):
    """Packed results of a block of raw spectra of shape (..., n_channels).

    Module level, so that it pickles for loky, dask and ray workers.
    """
    shape = chunk.shape[:-1]
    n_channels = chunk.shape[-1]
    flat = np.asarray(chunk, dtype=np.float64).reshape(-1, n_channels)
    out = np.empty((flat.shape[0], packed_width(n_channels)))
    if flat.shape[0]:
        if aligner is not None:
            flat = aligner.transform(flat)
        result = subtractor.subtract(flat, confidence_level=level)
        parts = [
            result.subtracted_median,
            *result.subtracted_band,
            result.zlp_median,
            *result.zlp_band,
        ]
        assert len(parts) == len(_SPECTRA)
        for i, part in enumerate(parts):
            out[:, i * n_channels : (i + 1) * n_channels] = part
        names = {name: code for code, name in enumerate(status_names())}
        start = len(parts) * n_channels
        out[:, start] = result.t_over_lambda
        out[:, start + 1 : start + 3] = np.asarray(result.t_over_lambda_band).T
        out[:, start + 3] = [names[s] for s in result.status]
        out[:, start + 4] = [names[s] for s in result.t_over_lambda_status]
    return out.reshape(*shape, out.shape[-1])


def _aligner(align, energy, spectra, target=None):
    """A ZeroLossAligner fitted on ``spectra`` (None for align=False).

    With ``target`` (a subtractor's axis) the aligner resamples onto it: every
    spectrum's ZLP maximum still lands on 0 eV, on the subtractor's channels.
    """
    if align is False:
        return None
    if align is True:
        aligner = ZeroLossAligner()
    elif isinstance(align, ZeroLossAligner):
        aligner = clone(align)
    else:
        raise TypeError(
            f"align must be True, False or an unfitted ZeroLossAligner (for its "
            f"options, e.g. ZeroLossAligner(search_range=(-1, 1))), got {align!r}."
        )
    aligner = aligner.set_params(energy_axis=energy).fit(spectra)
    if target is not None:
        step = (energy[-1] - energy[0]) / (energy.size - 1)
        target_step = (target[-1] - target[0]) / (target.size - 1)
        if target.size != energy.size or abs(step - target_step) > 1e-6 * abs(step):
            raise ValueError(
                f"the signal's energy axis ({energy.size} channels, dispersion "
                f"{step:.6g} eV) differs from the subtractor's ({target.size} channels, "
                f"dispersion {target_step:.6g} eV); record, crop or rebin the signal to "
                "the axis the subtractor was fitted on."
            )
        # the output axis is the subtractor's: only the start of the resampling moves
        aligner.energy_axis_ = np.array(target, dtype=np.float64)
    return aligner


def _check_reuse(subtractor, vacuum, params, energy, align):
    check_is_fitted(subtractor, "regressor_")
    if vacuum is not None or params:
        given = sorted(params) + (["vacuum"] if vacuum is not None else [])
        raise TypeError(
            f"remove_zlp got a fitted subtractor and {given}, which only a new fit "
            "uses; drop them, or drop subtractor to fit anew."
        )
    target = subtractor.energy_axis_
    if subtractor.n_features_in_ != target.size:
        raise ValueError(
            "the subtractor takes acquisition parameters as covariates "
            f"({subtractor.covariates}), which a HyperSpy signal does not carry per "
            "spectrum; use ZLPSubtractor.subtract on arrays with those columns."
        )
    if align is False and (
        energy.shape != target.shape or not np.allclose(energy, target, rtol=0, atol=1e-9)
    ):
        raise ValueError(
            f"the signal's energy axis ({energy[0]:.4g} to {energy[-1]:.4g} eV, "
            f"{energy.size} channels) is not the subtractor's ({target[0]:.4g} to "
            f"{target[-1]:.4g} eV, {target.size} channels); use align=True, which "
            "resamples it onto the subtractor's axis."
        )
    return target


def _new_subtractor(energy, vacuum, n_replicas, max_epochs, random_state, n_jobs, params):
    params = dict(params)
    fixed = {"energy_axis", "random_state", "n_jobs"} & set(params)
    unknown = set(params) - set(ZLPSubtractor().get_params(deep=False))
    if fixed or unknown:
        raise TypeError(
            f"remove_zlp got unexpected options {sorted(fixed | unknown)}: the energy "
            "axis is the signal's, random_state and n_jobs are remove_zlp's own, and "
            "the others go to ZLPSubtractor, whose options are "
            f"{sorted(set(ZLPSubtractor().get_params(deep=False)) - fixed)}."
        )
    if tuple(params.get("covariates", (LOG_TOTAL,))) != (LOG_TOTAL,):
        raise ValueError(
            f"covariates={params['covariates']!r}: acquisition parameters per spectrum "
            "are not part of a HyperSpy signal; remove_zlp uses ('log_total',). Use "
            "ZLPSubtractor on arrays for other covariates."
        )
    regressor = params.pop("regressor", None)
    if regressor is None:
        regressor = default_regressor(random_state=random_state, n_jobs=n_jobs)
        regressor.set_params(n_replicas=n_replicas, max_epochs=max_epochs)
    elif (n_replicas, max_epochs) != (100, 3000):
        raise TypeError(
            "remove_zlp got a regressor and n_replicas or max_epochs; set them on the "
            "regressor instead."
        )
    regions = params.pop("regions", None)
    if vacuum is not None:
        if regions is None:
            regions = ZLPRegionMask(vacuum=vacuum)
        elif regions.get_params()["vacuum"] is not None:
            raise ValueError(
                "vacuum spectra were given both to remove_zlp and to its regions; give "
                "them once (remove_zlp aligns them with the signal)."
            )
        else:
            regions = clone(regions).set_params(vacuum=vacuum)
    return ZLPSubtractor(
        energy,
        regressor=regressor,
        regions=regions,
        random_state=random_state,
        n_jobs=n_jobs,
        **params,
    )


def remove_zlp(
    signal,
    *,
    vacuum=None,
    n_replicas=100,
    max_epochs=3000,
    random_state=None,
    n_jobs=None,
    confidence_level=0.68,
    subtractor=None,
    align=True,
    **subtractor_params,
):
    """Remove the zero-loss peak from a HyperSpy signal, with 68% bands, in one line.

    The spectra are aligned (every ZLP maximum moved to 0 eV,
    :class:`~sklearn_zlp.ZeroLossAligner`), a :class:`~sklearn_zlp.ZLPSubtractor`
    (Roest et al. 2021: an ensemble of ``n_replicas`` networks trained on Monte
    Carlo replicas) is fitted on all of them, and every spectrum's ZLP is
    matched and subtracted by every replica. The medians and bands over the
    replicas come back as HyperSpy signals with the input's navigation axes,
    metadata and class.

    Parameters
    ----------
    signal : hyperspy.signals.Signal1D or exspy.signals.EELSSpectrum
        One spectrum, a line scan or a spectrum image of any navigation shape,
        possibly lazy; its one signal axis is the energy loss, uniform, in eV
        (keV and meV are converted; an axis without units is taken as eV with
        a warning). Not modified.
    vacuum : hyperspy signal or array-like of shape (n_vacuum, n_channels), default=None
        Spectra recorded in vacuum on the same energy axis: aligned like the
        signal and given to ``ZLPRegionMask(vacuum=...)``, so that dE_I is
        where each spectrum departs from the vacuum ZLP and the ZLP's tail
        through region II is learnt from them. Only for a new fit.
    n_replicas : int, default=100
        Monte Carlo replicas (networks) of the ensemble.
    max_epochs : int, default=3000
        Training epochs per replica.
    random_state : int, RandomState instance or None, default=None
        Seeds the ensemble and the data-noise draws; an int gives the same
        numbers every time.
    n_jobs : int, default=None
        Parallel training jobs, and parallel blocks of spectra for a signal in
        memory (any joblib backend); -1 for all cores. Results do not depend
        on it.
    confidence_level : float, default=0.68
        Level of the bands (0.68: the 16th and 84th percentiles over replicas).
    subtractor : ZLPSubtractor, default=None
        A fitted subtractor, e.g. ``previous.subtractor``: applied as it is,
        without fitting (``vacuum`` and ``subtractor_params`` are then refused).
        With ``align=True`` the signal is resampled onto the subtractor's
        energy axis (same dispersion and channel count needed).
    align : bool or ZeroLossAligner, default=True
        Align the spectra first; an unfitted ``ZeroLossAligner`` sets the
        options (e.g. ``ZeroLossAligner(search_range=(-1.0, 1.0))``). False:
        the spectra are already aligned (ZLP maximum at 0 eV).
    **subtractor_params
        Other :class:`~sklearn_zlp.ZLPSubtractor` options for a new fit, e.g.
        ``regions=ZLPRegionMask(per="cluster"), training="clusters"`` for a
        large spectrum image (Roest et al. 2021, section 3.2: training then
        costs as much as a few spectra), ``mode="vacuum"`` or
        ``regressor=...``.

    Returns
    -------
    signals : ZLPSignals
        ``subtracted``, ``subtracted_lower``, ``subtracted_upper``, ``zlp``,
        ``zlp_lower``, ``zlp_upper`` (spectrum signals), ``t_over_lambda`` and
        its band (signals over the navigation axes), ``status`` and
        ``t_over_lambda_status`` (navigation-shaped str arrays), the fitted
        ``subtractor`` and ``aligner``. Lazy for a lazy ``signal``.

    Raises
    ------
    TypeError
        If ``signal`` is not a HyperSpy signal, or options conflict.
    ValueError
        If the signal is not 1-D, its axis is not uniform, not increasing or
        not an energy, its data are not real numbers, or ``vacuum`` is not on
        the signal's axis.

    See Also
    --------
    sklearn_zlp.ZLPSubtractor : the estimator, for arrays.
    sklearn_zlp.maps.spectral_maps : t/lambda and band-gap maps of an image.
    sklearn_zlp.io.from_hyperspy : spectra and axis out of a signal.

    Notes
    -----
    Energy axis. Alignment resamples each spectrum so that its ZLP maximum
    sits at 0 eV of a common axis: the input's own axis when one of its
    channels is at 0 eV, else the input's axis moved so that its channel
    nearest the spectra's median ZLP position sits at 0 eV
    (:attr:`ZeroLossAligner.energy_axis_ <sklearn_zlp.ZeroLossAligner>`). The
    outputs carry that axis (offset and scale in eV): its offset can differ
    from the input's, its scale and channel count are the input's.

    Numbers. Every spectrum's results depend only on the fitted subtractor,
    the aligner, that spectrum and ``random_state``: they equal
    ``ZLPSubtractor.subtract`` on the aligned spectra bitwise, and a lazy
    signal gives the same numbers as the same signal in memory, whatever its
    chunks.

    Memory and laziness. A new fit reads the whole signal into memory once
    (8 bytes per channel and spectrum, twice with the aligned copy): the
    networks train on every spectrum, or with ``training="clusters"`` on
    draws from every spectrum. With ``subtractor`` given, a lazy signal is
    not read until computed. The outputs of a lazy signal are lazy, computed
    chunk by chunk over the navigation chunks (one chunk along the energy
    axis); they hold 6 numbers per input number, so a chunk's results take 6
    times its input plus the subtraction's temporaries (see
    :class:`~sklearn_zlp.ZLPSubtractor`, Notes). All signals come from one
    dask array: :meth:`ZLPSignals.compute` computes them in one pass, while
    ``signals.subtracted.compute()`` and then ``signals.zlp.compute()`` would
    subtract twice.

    The input's ``Signal.Noise_properties`` (variance) are not copied: the
    bands carry the uncertainty of the results.

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> import numpy as np
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> from sklearn_zlp.hyperspy import remove_zlp
    >>> data = make_synthetic_eels(image_shape=(2, 3), energy=np.linspace(-2, 10, 300),
    ...                            n_vacuum=2, random_state=0)
    >>> s = hs.signals.Signal1D(data.spectra)
    >>> s.axes_manager[-1].offset, s.axes_manager[-1].scale = -2.0, 12 / 299
    >>> s.axes_manager[-1].units = "eV"
    >>> res = remove_zlp(s, vacuum=data.vacuum, n_replicas=4, max_epochs=100,
    ...                  random_state=0)  # a tiny ensemble; use the defaults for real work
    >>> res.subtracted
    <Signal1D, title: spectrum (ZLP subtracted, median), dimensions: (3, 2|300)>
    >>> res.subtracted_upper.axes_manager[-1].units, res.status.shape
    ('eV', (2, 3))
    >>> res.t_over_lambda
    <Signal2D, title: t/lambda of spectrum (median), dimensions: (|3, 2)>

    Another signal, through the same subtractor without fitting (lazy in, lazy out):

    >>> lazy = remove_zlp(s.as_lazy(), subtractor=res.subtractor)
    >>> bool(np.array_equal(lazy.compute().zlp.data, res.zlp.data))
    True
    """
    source = check_signal(signal)
    if not isinstance(confidence_level, numbers.Real) or not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level!r}.")
    level = float(confidence_level)
    raw, data = source.energy, source.data
    n_channels = raw.size
    if subtractor is not None:
        target = _check_reuse(subtractor, vacuum, subtractor_params, raw, align)
        # one spectrum fixes the aligner (its fallback position for a lost ZLP)
        first = np.asarray(data[(0,) * (data.ndim - 1)], dtype=np.float64)
        aligner = _aligner(align, raw, first.reshape(1, -1), target)
        energy = target
    else:
        spectra = np.asarray(
            data.compute() if source.lazy else data, dtype=np.float64
        ).reshape(-1, n_channels)
        aligner = _aligner(align, raw, spectra)
        energy = raw if aligner is None else aligner.energy_axis_
        vacuum = vacuum_spectra(vacuum, raw)
        if aligner is not None:
            spectra = aligner.transform(spectra)
            vacuum = None if vacuum is None else aligner.transform(vacuum)
        subtractor = _new_subtractor(
            energy, vacuum, n_replicas, max_epochs, random_state, n_jobs, subtractor_params
        ).fit(spectra)
        del spectra
    width = packed_width(n_channels)
    if source.lazy:
        import uuid

        data = data.rechunk({data.ndim - 1: -1})  # every spectrum whole in its chunk
        packed = data.map_blocks(
            _packed_block,
            aligner,
            subtractor,
            level,
            dtype=np.float64,
            chunks=data.chunks[:-1] + ((width,),),
            meta=np.empty((0,) * data.ndim, dtype=np.float64),
            # a name of its own: hashing the fitted networks would cost more than
            # the graph is worth
            name=f"remove-zlp-{uuid.uuid4().hex}",
        )
    else:
        flat = np.asarray(data).reshape(-1, n_channels)
        workers = effective_n_jobs(n_jobs)
        step = max(1, min(_BLOCK, -(-flat.shape[0] // (4 * workers))))
        blocks = [slice(i, i + step) for i in range(0, flat.shape[0], step)]
        packed = np.empty((flat.shape[0], width))
        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_packed_block)(flat[rows], aligner, subtractor, level)
            for rows in blocks
        )
        for rows, values in zip(blocks, results, strict=True):
            packed[rows] = values
        packed = packed.reshape(*source.navigation_shape, width)
    return ZLPSignals(packed, source, energy, subtractor, aligner, level)
