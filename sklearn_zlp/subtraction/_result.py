"""ZLPSubtractionResult: medians and bands of a subtraction, replicas on request."""

import numpy as np

from .._replicas import replica_band, replica_median

__all__ = ["ZLPSubtractionResult"]

# the three replica arrays and the statistics kept of each
_KINDS = ("zlp_model", "zlp", "subtracted")


class ZLPSubtractionResult:
    """What :meth:`ZLPSubtractor.subtract` computes for a set of spectra.

    Medians and 68% bands over the replicas are always there; the replicas
    themselves only when asked for (``subtract(X, keep_replicas=True)``, or
    each batch of :meth:`ZLPSubtractor.subtract_batches`), because they take
    ``8 * n_replicas`` bytes per channel and spectrum and kind (4.9 MB per
    spectrum for the three kinds at 100 replicas x 1981 channels).

    Bands are (lower, upper) percentiles over the replicas, stacked on the
    first axis: ``band[0]`` is the lower and ``band[1]`` the upper edge
    (16th and 84th percentile at the default ``confidence_level=0.68``). They
    use numpy's ``method="normal_unbiased"`` (Blom's plotting positions; see
    :mod:`sklearn_zlp._replicas`): the default linear interpolation makes a
    68% band from few replicas too narrow (about 11% with 16 replicas;
    measured 68% coverage of the true inelastic signal on synthetic FWHM 0.15
    eV, 1e6-count spectra rose from 0.61-0.63 to 0.64-0.67 over five seeds,
    FWHM 0.3 eV 0.71-0.83 to 0.76-0.87, FWHM 0.6 eV 0.91-0.99 to
    0.94-0.995). Medians and bands equal those of the replica arrays exactly
    (:func:`~sklearn_zlp._replicas.replica_median`, ``replica_band``).

    Attributes
    ----------
    energy : ndarray of shape (n_channels,)
        Energy axis in eV.
    spectra : ndarray of shape (n_spectra, n_channels)
        The input spectra (validated float64 copy).
    n_replicas : int
        Number of replicas.
    confidence_level : float
        Level of the bands.
    rows : slice
        The rows of the ``X`` given to the subtractor that these results are
        for (all of them from :meth:`~ZLPSubtractor.subtract`).
    de0, de1, de2 : ndarray of shape (n_spectra,)
        Matching start, end of region I and start of region III, in eV.
    status : ndarray of shape (n_spectra,) of str
        ``"ok"`` or why a spectrum's results may not be trusted
        (:func:`~sklearn_zlp.describe_status` explains each):
        ``"no_region_i"`` (its matched ZLP, subtracted spectrum and t/lambda
        are NaN), ``"poor_fit_in_region_i"``, ``"zlp_exceeds_data"``,
        ``"region_i_too_short"``, ``"extrapolated"`` (values kept; their bands
        may miss the truth). One status per spectrum, the first that applies in
        this order; ``diagnostics`` holds the numbers behind every check.
    diagnostics : dict of ndarray of shape (n_spectra,)
        ``"region_i_chi2"``: mean squared residual of the model median in the
        matching interval [dE_0, dE_I), standardised by counting noise and
        band (``poor_fit_in_region_i`` above 4); ``"region_i_model_chi2"``:
        the same without the band, and ``"region_i_relative_misfit"``, the
        median of ``|data - model| / data`` there (``poor_fit_in_region_i`` where
        both exceed 25 and 0.2: a median model off by 5 noise standard
        deviations and a fifth of the counts, e.g. an ensemble that has not
        converged, whatever its band); ``"de1_over_fwhm"``
        (``region_i_too_short`` below 2.75); ``"zlp_excess_fraction"``: fraction of
        region-II channels where the model's lower band edge lies 3 sigma above
        the data (``zlp_exceeds_data`` from 0.1); ``"covariate_outside"`` and
        ``"fwhm_outside"``: the spectrum's ZLP FWHM more than 5% outside the
        training spectra's range (either gives ``extrapolated``).
    t_over_lambda : ndarray of shape (n_spectra,)
        Relative thickness ln(I_total / I_ZLP), median over replicas: each
        replica's sum of the data (with its own draw of the counting noise,
        when ``data_noise``) over the sum of its matched ZLP, over the whole
        axis, less its draw of the specimen's losses below dE_I that the
        matched ZLP holds (uniform between none and the subtracted level at
        dE_I held flat down to 0 eV; see ``sklearn_zlp/subtraction/_hidden.py``). Accurate to ~1% only if the axis reaches ~8 plasmon energies
        (Egerton 2011, section 5.1).
    t_over_lambda_band : ndarray of shape (2, n_spectra)
        Its band (ZLP model and data noise together).
    t_over_lambda_status : ndarray of shape (n_spectra,) of str
        ``status``, or where that is "ok", ``"gain_side_floor"`` when the far
        gain side levels off at a floor of counts (a dark offset or detector
        tail) that would move t/lambda by more than its band: t/lambda counts
        such a floor as inelastic (diagnostics ``"gain_side_floor"``, counts
        per channel, ``"gain_side_floor_error"`` and ``"floor_t_over_lambda"``,
        the shift; see ``sklearn_zlp/subtraction/_floor.py``). Diagnostic
        ``"hidden_t_over_lambda"``: what the draw of the losses below dE_I adds
        to t/lambda (median over replicas; see ``t_over_lambda``).
    subtracted_median, zlp_median, zlp_model_median : ndarray of shape \
(n_spectra, n_channels)
        Medians over replicas of the ZLP-free spectra, the matched ZLP and the
        model ZLP before matching.
    subtracted_band, zlp_band, zlp_model_band : ndarray of shape \
(2, n_spectra, n_channels)
        Their bands.
    replicas_kept : bool
        Whether the replica arrays below are available.
    zlp_model : ndarray of shape (n_replicas, n_spectra, n_channels)
        Each replica's ZLP prediction for each spectrum, before matching.
    zlp : ndarray of shape (n_replicas, n_spectra, n_channels)
        Each replica's matched ZLP: the data below ``de0``, a smooth blend of
        data and model up to ``de1``, the model above, never above the
        (smoothed) data.
    subtracted : ndarray of shape (n_replicas, n_spectra, n_channels)
        Each replica's ZLP-free spectrum (data, with the replica's own draw of
        the counting noise when ``data_noise`` is on, minus its matched ZLP).
    """

    def __init__(
        self,
        *,
        energy,
        spectra,
        de0,
        de1,
        de2,
        n_replicas,
        rows,
        replicas=None,
        summary=None,
        confidence_level=0.68,
        status=None,
        diagnostics=None,
        t_over_lambda=None,
        t_over_lambda_band=None,
        t_over_lambda_status=None,
    ):
        self.status = status
        self.diagnostics = {} if diagnostics is None else diagnostics
        self.t_over_lambda = t_over_lambda
        self.t_over_lambda_band = t_over_lambda_band
        self.t_over_lambda_status = t_over_lambda_status
        self.energy = energy
        self.spectra = spectra
        self.de0, self.de1, self.de2 = de0, de1, de2
        self.n_replicas = int(n_replicas)
        self.rows = rows
        self.confidence_level = confidence_level
        self._replicas = replicas  # {kind: cube} or None
        self._summary = {} if summary is None else dict(summary)

    @property
    def replicas_kept(self):
        """Whether the replica arrays are available."""
        return self._replicas is not None

    def _cube(self, kind):
        if self._replicas is None:
            raise AttributeError(
                f"the replicas ({kind}) were not kept: medians and bands are here "
                "(e.g. subtracted_median, subtracted_band). For every replica call "
                "subtract(X, keep_replicas=True) (8 * n_replicas bytes per channel, "
                "spectrum and kind), or iterate over subtract_batches(X), whose "
                "batches keep theirs at bounded memory."
            )
        return self._replicas[kind]

    def _statistic(self, kind, which):
        key = f"{kind}_{which}"
        if key not in self._summary:
            cube = self._cube(kind)
            self._summary[key] = (
                replica_median(cube)
                if which == "median"
                else replica_band(cube, self.confidence_level)
            )
        return self._summary[key]

    zlp_model = property(lambda self: self._cube("zlp_model"), doc="Model ZLP replicas.")
    zlp = property(lambda self: self._cube("zlp"), doc="Matched ZLP replicas.")
    subtracted = property(lambda self: self._cube("subtracted"), doc="ZLP-free replicas.")
    subtracted_median = property(
        lambda self: self._statistic("subtracted", "median"),
        doc="Median subtracted spectra, shape (n_spectra, n_channels).",
    )
    subtracted_band = property(
        lambda self: self._statistic("subtracted", "band"),
        doc="Band of the subtracted spectra, shape (2, n_spectra, n_channels).",
    )
    zlp_median = property(
        lambda self: self._statistic("zlp", "median"),
        doc="Median matched ZLP, shape (n_spectra, n_channels).",
    )
    zlp_band = property(
        lambda self: self._statistic("zlp", "band"),
        doc="Band of the matched ZLP, shape (2, n_spectra, n_channels).",
    )
    zlp_model_median = property(
        lambda self: self._statistic("zlp_model", "median"),
        doc="Median model ZLP before matching, shape (n_spectra, n_channels).",
    )
    zlp_model_band = property(
        lambda self: self._statistic("zlp_model", "band"),
        doc="Band of the model ZLP before matching, shape (2, n_spectra, n_channels).",
    )

    def __repr__(self):
        n, c = self.spectra.shape
        kept = "kept" if self.replicas_kept else "not kept"
        return (
            f"ZLPSubtractionResult({n} spectra x {c} channels, {self.n_replicas} "
            f"replicas ({kept}), {self.confidence_level:g} bands)"
        )


def summarise(cubes, confidence_level, into=None, rows=slice(None)):
    """Medians and bands of each ``{kind: cube}``, written to ``into[key][rows]``."""
    into = {} if into is None else into
    for kind, cube in cubes.items():
        median, band = replica_median(cube), replica_band(cube, confidence_level)
        if f"{kind}_median" in into:
            into[f"{kind}_median"][rows] = median
            into[f"{kind}_band"][:, rows] = band
        else:
            into[f"{kind}_median"], into[f"{kind}_band"] = median, band
    return into


def empty_summary(kinds, n_spectra, n_channels):
    """Output arrays of :func:`summarise` for ``n_spectra`` spectra."""
    out = {}
    for kind in kinds:
        out[f"{kind}_median"] = np.empty((n_spectra, n_channels))
        out[f"{kind}_band"] = np.empty((2, n_spectra, n_channels))
    return out
