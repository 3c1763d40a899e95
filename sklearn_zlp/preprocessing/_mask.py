"""ZLPRegionMask: learn dE_I and dE_II, mask region II of aligned spectra."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._status import OK, describe_status, status_array
from .._validation import (
    check_zlp_at_zero,
    energy_axis_or_channels,
    validate_spectra_data,
)
from ..io._model_mixin import ModelFileMixin
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ..utils._transaction import transactional_fit
from ._clusters import ThicknessClusterer, cluster_edges
from ._edges import (
    _DE1_METHODS,
    _DE2_METHODS,
    MIN_CHANNELS,
    _check_vacuum,
    _energy_names,
    _estimate_de1,
    _estimate_de2,
    _smooth,
    resolve_de1_method,
)
from ._peak import zlp_peaks

__all__ = ["ZLPRegionMask"]


class ZLPRegionMask(ModelFileMixin, TransformerMixin, BaseEstimator):
    """Learn the training regions dE_I, dE_II and mask region II of aligned spectra.

    Region I, -dE_I < E < dE_I, is where the ZLP dominates; region II,
    dE_I <= E <= dE_II, where ZLP and inelastic signal overlap (the model only
    predicts there); region III, E > dE_II, where the ZLP is negligible.
    :meth:`transform` sets region II and the far gain side (E <= -dE_I) to
    ``fill_value``, so that only the training channels (regions I and III) remain.
    Each edge is estimated from the spectra (:func:`estimate_de1`,
    :func:`estimate_de2`) or set by the user, then multiplied by its shift.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,), default=None
        Aligned energy axis in eV with the ZLP maximum at 0 eV (e.g.
        ``ZeroLossAligner.energy_axis_``); automatic edges need a uniform axis.
        None numbers the channels 0, 1, ..., so user-given edges are in channels
        (only for data without a calibration).
    de1 : "auto" or float, default="auto"
        dE_I in eV, or "auto" to estimate it with ``de1_method``.
    de2 : "auto" or float, default="auto"
        dE_II in eV, or "auto" to estimate it with ``de2_method`` from the
        (unshifted) dE_I.
    de1_method : {"auto", "derivative", "ratio", "curvature", "tail"}, default="auto"
        See :func:`estimate_de1`; "auto" is "ratio" with ``vacuum``, otherwise
        "curvature".
    de2_method : {"auto", "snr", "multiple"}, default="auto"
        See :func:`estimate_de2`.
    de1_shift : float, default=1.0
        Factor applied to dE_I, automatic or user-given (the parameter to tune).
    de2_shift : float, default=1.0
        Factor applied to dE_II, automatic or user-given.
    de2_factor : float, default=3.0
        dE_II / dE_I for ``de2_method="multiple"`` (and the "auto" fallback).
    per : {"all", "spectrum", "cluster"}, default="all"
        "all": every spectrum gets the median edges of the training spectra,
        :attr:`de1_all_` and :attr:`de2_all_`. "spectrum": each spectrum passed
        to :meth:`transform` gets its own edges, estimated the same way
        (user-given floats are the same for all). "cluster" (spectrum images):
        ``clusterer`` groups the training spectra by thickness, the edges are
        estimated on each cluster's median spectrum, and every spectrum gets
        those of its cluster (:attr:`de1_cluster_`); a cluster whose median
        shows no plausible dE_I gets the median edges of the others, its
        status in :attr:`de1_cluster_status_` saying so.
    clusterer : estimator, default=None
        With ``per="cluster"``: a clusterer with ``fit`` and ``predict`` on the
        spectra, cloned and fitted in :meth:`fit`. None:
        ``ThicknessClusterer(random_state=0)`` (K-means on ln N_tot).
    vacuum : array-like of shape (n_vacuum, n_channels), default=None
        Vacuum spectra on the same aligned axis, for the "ratio" and "snr"
        methods.
    smoothing : float, default=0.1
        Gaussian smoothing sigma in eV of the edge estimates.
    tolerance : float, default=0.2
        Relative deviation of the "ratio" method.
    fill_value : float, default=np.nan
        Value written into the masked channels.
    min_channels : int, default=5
        Fewest channels region I and region III must each hold.

    Attributes
    ----------
    de1_ : ndarray of shape (n_spectra,)
        dE_I in eV of each training spectrum (shift applied); NaN where the
        automatic dE_I was not found or is implausible (see :attr:`de1_status_`).
    de2_ : ndarray of shape (n_spectra,)
        dE_II in eV of each training spectrum (shift applied); NaN where dE_I is.
    de1_status_ : ndarray of object of shape (n_spectra,)
        ``"ok"`` or why a training spectrum has no automatic dE_I:
        ``"de1_not_found"``, ``"de1_near_peak"`` (within 3 FWHM of the ZLP's
        maximum), ``"de1_inelastic_dominates"`` (see
        :func:`~sklearn_zlp.describe_status`). With ``per="all"`` such spectra
        are left out of the medians, and the fit fails if more than half of the
        spectra have no plausible dE_I (the median would be that of a minority);
        with ``per="spectrum"`` every spectrum needs one.
    de1_all_ : float
        Median of :attr:`de1_` over the spectra (clusters with ``per="cluster"``)
        whose dE_I is ok.
    de2_all_ : float
        Median of :attr:`de2_` over the same spectra.
    clusterer_ : estimator
        With ``per="cluster"``: the fitted clone of ``clusterer``.
    labels_ : ndarray of int of shape (n_spectra,)
        With ``per="cluster"``: the cluster of every training spectrum.
    de1_cluster_, de2_cluster_ : ndarray of shape (n_clusters,)
        With ``per="cluster"``: the edges of every cluster (shifts applied),
        estimated on its median spectrum.
    de1_cluster_status_ : ndarray of object of shape (n_clusters,)
        With ``per="cluster"``: ``"ok"``, or why the cluster's median shows no
        plausible dE_I (it then has the median edges of the other clusters).
    energy_axis_ : ndarray of shape (n_channels,)
        The axis used (channel numbers when ``energy_axis`` is None).
    n_features_in_ : int
        Number of channels.

    See Also
    --------
    ThicknessClusterer : groups spectra by thickness, for ``per="cluster"``.
    ZeroLossAligner : puts the ZLP maximum at 0 eV, which this step requires.
    EnergyWindow : crops channels to an energy range.

    Notes
    -----
    The edges are estimated from the unshifted values (dE_II from the unshifted
    dE_I), then each is multiplied by its shift, so the two shifts act
    independently.

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.preprocessing import ZLPRegionMask
    >>> energy = np.linspace(-2, 10, 481)
    >>> X = np.exp(-0.5 * (energy / 0.2) ** 2)[None] * 1e4 + 10.0
    >>> mask = ZLPRegionMask(energy_axis=energy, de1=1.0, de2=3.0).fit(X)
    >>> Xt = mask.transform(X)
    >>> bool(np.isnan(Xt[0, (energy >= 1.0) & (energy <= 3.0)]).all())
    True
    >>> mask.edges(X)
    (array([1.]), array([3.]))
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "de1": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "de2": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "de1_method": [StrOptions({"auto", *_DE1_METHODS})],
        "de2_method": [StrOptions({"auto", *_DE2_METHODS})],
        "de1_shift": [Interval(Real, 0, None, closed="neither")],
        "de2_shift": [Interval(Real, 0, None, closed="neither")],
        "de2_factor": [Interval(Real, 1, None, closed="neither")],
        "per": [StrOptions({"all", "spectrum", "cluster"})],
        "clusterer": [HasMethods(["fit", "predict"]), None],
        "vacuum": ["array-like", None],
        "smoothing": [Interval(Real, 0, None, closed="left")],
        "tolerance": [Interval(Real, 0, None, closed="neither")],
        "fill_value": [Real],
        "min_channels": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        energy_axis=None,
        *,
        de1="auto",
        de2="auto",
        de1_method="auto",
        de2_method="auto",
        de1_shift=1.0,
        de2_shift=1.0,
        de2_factor=3.0,
        per="all",
        clusterer=None,
        vacuum=None,
        smoothing=0.1,
        tolerance=0.2,
        fill_value=np.nan,
        min_channels=5,
    ):
        self.energy_axis = energy_axis
        self.de1 = de1
        self.de2 = de2
        self.de1_method = de1_method
        self.de2_method = de2_method
        self.de1_shift = de1_shift
        self.de2_shift = de2_shift
        self.de2_factor = de2_factor
        self.per = per
        self.clusterer = clusterer
        self.vacuum = vacuum
        self.smoothing = smoothing
        self.tolerance = tolerance
        self.fill_value = fill_value
        self.min_channels = min_channels

    def _auto(self):
        return self.de1 == "auto" or self.de2 == "auto"

    def _axis(self, n_channels):
        # Automatic edges differentiate along the axis: they need a uniform one.
        return energy_axis_or_channels(self.energy_axis, n_channels, uniform=self._auto())

    def _de1_method(self):
        return resolve_de1_method(self.de1_method, self._vacuum_ is not None)

    def _uses_vacuum(self):
        """Whether the automatic edges compare with the vacuum spectra."""
        return self._vacuum_ is not None and (
            (self.de1 == "auto" and self._de1_method() == "ratio")
            or (self.de2 == "auto" and self.de2_method != "multiple")
        )

    def _estimate(self, X, energy, allow_lost=False):
        """Edges of every row of validated X, shifts applied, and dE_I's status.

        X and ``energy`` were validated by the public method that calls this,
        and the vacuum spectra by ``fit``: nothing is validated again here
        except that X's zero-loss peaks sit at 0 eV, once, when an edge is
        estimated from them. A spectrum whose automatic dE_I is not found or
        implausible gets NaN edges; with ``allow_lost`` that is fine as long as
        at least half of the spectra have edges (per="all" uses their median),
        else an error.
        """
        n = X.shape[0]
        vacuum = self._vacuum_ if self._uses_vacuum() else None
        smoothed = None
        status = status_array(n)
        if self._auto():
            check_zlp_at_zero(X, energy)
            smoothed = _smooth(X, energy, self.smoothing)
        if self.de1 == "auto":
            de1, status = _estimate_de1(
                X,
                smoothed,
                energy,
                self._de1_method(),
                vacuum,
                self.smoothing,
                self.tolerance,
            )
            lost = np.flatnonzero(status != OK)
            # per="all" takes the median of the spectra that have a dE_I; where
            # they are the minority, it would be theirs, not the data's
            if lost.size and (not allow_lost or 2 * lost.size > n):
                raise ValueError(self._lost_de1_message(lost, status))
        else:
            de1 = np.full(n, float(self.de1))
        if self.de2 == "auto":
            de2 = _estimate_de2(
                X,
                smoothed,
                energy,
                self.de2_method,
                de1,
                vacuum,
                self.de2_factor,
                self.smoothing,
            )
            lost = np.flatnonzero(np.isnan(de2) & (status == OK))
            if lost.size:
                raise ValueError(
                    f"spectra {lost[:5].tolist()}: de2_method={self.de2_method!r} found "
                    "no energy where the ZLP falls below the noise; set de2 to a value "
                    'in eV or use de2_method="auto" (falls back to de2_factor * dE_I).'
                )
        else:
            de2 = np.full(n, float(self.de2))
        return de1 * self.de1_shift, de2 * self.de2_shift, status

    def _lost_de1_message(self, lost, status):
        counts = {s: int(np.sum(status[lost] == s)) for s in dict.fromkeys(status[lost])}
        reasons = "; ".join(
            f"{count} {name!r}: {describe_status(name)}" for name, count in counts.items()
        )
        if lost.size == status.size:
            scope = "every spectrum"
        elif self.per == "all":
            scope = (
                f'{lost.size} of {status.size} spectra (per="all" takes the median '
                "dE_I of the others only when they are at least half)"
            )
        else:
            scope = f'spectra {lost[:5].tolist()} (per="spectrum" needs each one)'
        return (
            f"de1_method={self.de1_method!r} found no plausible dE_I for {scope}: "
            f"{reasons} Set de1 to a value in eV, pass vacuum spectra (the "
            '"ratio" method), or try another de1_method (e.g. "tail") or a larger smoothing.'
        )

    def _check_edges(self, X, energy, de1, de2):
        bad = np.flatnonzero(de1 >= de2)
        if bad.size:
            raise ValueError(
                f"dE_I ({de1[bad[0]]:.4g} eV) >= dE_II ({de2[bad[0]]:.4g} eV) for spectra "
                f"{bad[:5].tolist()}: region II would be empty. Lower de1 or de1_shift, "
                "or raise de2 or de2_shift."
            )
        # The ZLP, not the highest peak: in thick specimens the plasmon outgrows it.
        channel = zlp_peaks(X).channel
        channel = np.where(channel >= 0, channel, np.argmax(X, axis=1))
        peaks = energy[channel]
        bad = np.flatnonzero(np.abs(peaks) >= de1)
        if bad.size:
            raise ValueError(
                f"spectra {bad[:5].tolist()} have their zero-loss peak at "
                f"{peaks[bad[:5]].round(4).tolist()} eV, outside region I "
                f"(|E| < dE_I = {de1[bad[0]]:.4g} eV): the zero-loss peak must sit at "
                "0 eV. Align the spectra with ZeroLossAligner first and pass its "
                "energy_axis_."
            )
        n_one = np.sum(np.abs(energy)[None] < de1[:, None], axis=1)
        n_three = np.sum(energy[None] > de2[:, None], axis=1)
        for name, counts, edge in (("I", n_one, "de1"), ("III", n_three, "de2")):
            bad = np.flatnonzero(counts < self.min_channels)
            if bad.size:
                raise ValueError(
                    f"region {name} holds {int(counts[bad[0]])} channels for spectra "
                    f"{bad[:5].tolist()}, fewer than min_channels={self.min_channels}; "
                    f"{'raise' if name == 'I' else 'lower'} {edge} (or {edge}_shift), "
                    "use a longer energy axis, or lower min_channels."
                )

    @transactional_fit
    def fit(self, X, y=None):
        """Learn dE_I and dE_II from the training spectra.

        A fit that fails or is interrupted leaves the mask as it was.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``; any real dtype, nested lists and
            DataFrames work.
        y : None
            Ignored.

        Returns
        -------
        self : ZLPRegionMask
            Fitted mask.
        """
        self._validate_params()
        X = validate_spectra_data(
            self, X, reset=True, min_channels=MIN_CHANNELS if self._auto() else 1
        )
        energy = self._axis(X.shape[1])
        self._vacuum_ = None
        if self.vacuum is not None:
            self._vacuum_ = _check_vacuum(self.vacuum, X.shape[1])
            if self._uses_vacuum():
                check_zlp_at_zero(self._vacuum_, energy, name="vacuum spectra")
        if self.per == "cluster":
            self._fit_clusters(X, energy)
            return self
        de1, de2, status = self._estimate(X, energy, allow_lost=self.per == "all")
        found = status == OK
        self._check_edges(X[found], energy, de1[found], de2[found])
        self.de1_, self.de2_, self.de1_status_ = de1, de2, status
        # A spectrum without a plausible dE_I does not stop a fit that uses the
        # median of the others (per="all").
        self.de1_all_ = float(np.median(de1[found]))
        self.de2_all_ = float(np.median(de2[found]))
        self.energy_axis_ = energy
        if self.per == "all":
            self._check_edges(X, energy, *self._shared(X.shape[0]))
        return self

    def _fit_clusters(self, X, energy):
        """per="cluster": cluster X, edges of every cluster's median spectrum."""
        if self.clusterer is None:
            clusterer = ThicknessClusterer(random_state=0)
        else:
            clusterer = clone(self.clusterer)
        self.__dict__.update(cluster_edges(self, clusterer, X, energy))

    def _shared(self, n):
        return np.full(n, self.de1_all_), np.full(n, self.de2_all_)

    def _validated(self, X):
        """X validated once for a method of the fitted mask, and the fitted axis."""
        check_is_fitted(self)
        X = validate_spectra_data(self, X, reset=False)
        return X, self.energy_axis_

    def _edges(self, X, energy):
        if self.per == "all":
            de1, de2 = self._shared(X.shape[0])
        elif self.per == "cluster":
            labels = np.asarray(self.clusterer_.predict(X), dtype=int)
            de1, de2 = self.de1_cluster_[labels], self.de2_cluster_[labels]
        else:
            de1, de2, _ = self._estimate(X, energy)
        self._check_edges(X, energy, de1, de2)
        return de1, de2

    def edges(self, X):
        """dE_I and dE_II in eV for each spectrum, shifts applied.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.

        Returns
        -------
        de1 : ndarray of shape (n_spectra,)
            dE_I of each spectrum.
        de2 : ndarray of shape (n_spectra,)
            dE_II of each spectrum.
        """
        X, energy = self._validated(X)
        return self._edges(X, energy)

    def region_mask(self, X):
        """Which channels are training channels (region I or region III).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.

        Returns
        -------
        mask : ndarray of bool of shape (n_spectra, n_channels)
            True for -dE_I < E < dE_I (region I) and E > dE_II (region III).
        """
        X, energy = self._validated(X)
        return self._mask(energy, *self._edges(X, energy))

    @staticmethod
    def _mask(energy, de1, de2):
        return (np.abs(energy)[None] < de1[:, None]) | (energy[None] > de2[:, None])

    def transform(self, X):
        """Copy of X with region II and the far gain side set to ``fill_value``.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Aligned spectra on ``energy_axis``.

        Returns
        -------
        X_masked : ndarray of shape (n_spectra, n_channels)
            Channels outside regions I and III (dE_I <= E <= dE_II, and
            E <= -dE_I) hold ``fill_value``; the input is not modified.
        """
        X, energy = self._validated(X)
        # A new array even when validation kept the caller's one.
        out = np.array(X, dtype=np.float64, copy=True)
        out[~self._mask(energy, *self._edges(X, energy))] = self.fill_value
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the output channels: their energies, ``"E=<eV>"``."""
        check_is_fitted(self)
        return _energy_names(self.energy_axis_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
