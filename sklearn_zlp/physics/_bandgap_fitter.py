"""Band-gap features for a scikit-learn Pipeline: the transformer face of fit_band_gap."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._noise import counting_variance
from .._replicas import replica_median
from .._validation import energy_axis_or_channels, validate_spectra_data
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._transaction import transactional_fit
from . import _bandgap  # fit_band_gap's window rule and fit, looked up at call time
from ._bandgap_inputs import check_b, check_sigma, check_window
from ._onset_fit import B_BOUNDS

__all__ = ["BandGapFitter"]


class BandGapFitter(TransformerMixin, BaseEstimator):
    """Turn spectra into band-gap features [E_bg, b, A, chi2] for a Pipeline.

    ``fit`` learns the fit window from the training spectra (the rule of
    :func:`fit_band_gap`, with the training spectra in place of replicas)
    unless one is given; ``transform`` fits ``A (E - E_bg)^b`` (plus the
    ``background``) to each spectrum in that window. A spectrum whose fit
    fails gets NaN features; :meth:`transform_result` returns the whole
    :class:`BandGapResult` with the status of every spectrum. Each row of
    ``X`` is one spectrum (no replica axis): to fit replicas, call
    :func:`fit_band_gap`.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,), default=None
        Energy of every channel in eV, strictly increasing; None numbers the
        channels 0, 1, ... (the window is then in channels).
    window : tuple (e_min, e_max), default=None
        Fit range in eV; None learns it in ``fit``.
    b : float, "direct", "indirect" or None, default=None
        Fixed exponent, or None to fit it.
    resolution : float, default=None
        Gaussian FWHM in eV the model is convolved with (needs a uniform axis).
    background : {"constant", "linear"} or None, default="constant"
        Pedestal fitted under the onset (see :func:`fit_band_gap`).

    Attributes
    ----------
    window_ : ndarray of shape (2,)
        The fit range used by ``transform``: the given one, the automatic
        window of the training spectra, or (where those show no onset) the
        whole range searched, so that ``transform`` reports each spectrum's
        status.
    energy_axis_ : ndarray of shape (n_channels,)
        The axis used (channel numbers when ``energy_axis`` is None).
    n_features_in_ : int
        Number of channels.

    See Also
    --------
    fit_band_gap : the replica-aware function behind this transformer.

    References
    ----------
    B. Rafferty and L. M. Brown, Phys. Rev. B 58 (1998) 10326.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.physics import BandGapFitter
    >>> e = np.linspace(0.0, 4.0, 161)
    >>> X = np.vstack([500.0 * np.clip(e - g, 0, None) ** 1.5 for g in (1.4, 1.6)])
    >>> fitter = BandGapFitter(energy_axis=e, window=(1.0, 3.0)).fit(X)
    >>> fitter.transform(X)[:, 0].round(2)
    array([1.4, 1.6])
    >>> fitter.transform_result(X).status.tolist()
    ['ok', 'ok']
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "window": [tuple, list, None],
        "b": [
            StrOptions({"direct", "indirect"}),
            Interval(Real, *B_BOUNDS, closed="both"),
            None,
        ],
        "resolution": [Interval(Real, 0, None, closed="neither"), None],
        "background": [StrOptions({"constant", "linear"}), None],
    }

    def __init__(
        self, energy_axis=None, window=None, b=None, resolution=None, background="constant"
    ):
        self.energy_axis = energy_axis
        self.window = window
        self.b = b
        self.resolution = resolution
        self.background = background

    @transactional_fit
    def fit(self, X, y=None, sigma=None):
        """Learn the fit window from the median training spectrum.

        A fit that fails or is interrupted leaves the fitter as it was.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            ZLP-subtracted spectra in counts, one per row; any real dtype,
            nested lists and DataFrames work.
        y : None
            Ignored.
        sigma : float or array-like broadcastable to X, default=None
            Standard deviation of every channel in counts (see
            :meth:`transform`); its median over the spectra sets the automatic
            window's detection threshold.

        Returns
        -------
        self : BandGapFitter
            Fitted transformer.
        """
        self._validate_params()
        X = validate_spectra_data(self, X, reset=True, min_channels=2)
        e = energy_axis_or_channels(
            self.energy_axis, X.shape[1], uniform=self.resolution is not None
        )
        if self.window is not None:
            window = np.asarray(check_window(self.window, e))
        else:
            # The training spectra stand in for replicas: their median and
            # spread set the detection threshold.
            sig = (
                np.sqrt(counting_variance(replica_median(X), 0.0))
                if sigma is None
                else replica_median(_sigma(sigma, X))
            )
            start = 0.8 if self.energy_axis is not None else e[0]
            start = max(start, 1.5 * (self.resolution or 0.0))
            found = _bandgap._auto_window(
                e, X, sig, self._options(), start, self.resolution or 0.0
            )
            window = np.array(found if found is not None else (min(start, e[-2]), e[-1]))
        self.energy_axis_ = e
        self.window_ = window
        return self

    def fit_transform(self, X, y=None, sigma=None):
        """:meth:`fit`, then :meth:`transform` of the same spectra with the same ``sigma``."""
        return self.fit(X, y, sigma=sigma).transform(X, sigma=sigma)

    def transform(self, X, sigma=None):
        """Return [E_bg, b, A, chi2] per spectrum, NaN where the fit failed.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            ZLP-subtracted spectra on ``energy_axis``.
        sigma : float or array-like broadcastable to X, default=None
            Standard deviation of every channel in counts. None: counting noise
            ``sqrt(max(I, 1))`` of X itself, right for spectra that are counts
            as recorded. A subtracted spectrum keeps the noise of the ZLP counts
            it lost: pass ``np.sqrt(np.maximum(recorded, 1) + read_noise**2)``
            of the spectra before subtraction (on synthetic 1e6-count spectra
            with the true ZLP subtracted, weighting by the subtracted counts
            flagged 22 of 48 spectra and put E_bg +0.11 eV high, against 2 of
            48 and +0.01 eV; :func:`fit_band_gap` does this by itself for a
            subtraction result). In a Pipeline, route it with
            ``set_transform_request(sigma=True)`` under
            ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        features : ndarray of shape (n_spectra, 4)
            Fitted E_bg (eV), b, amplitude A and chi^2 of each spectrum; a
            row of NaN where its status (see :meth:`transform_result`) is not
            "ok".
        """
        res = self.transform_result(X, sigma=sigma)
        return np.column_stack([res.e_bg[0], res.b[0], res.amplitude[0], res.chi2[0]])

    def transform_result(self, X, sigma=None):
        """Fit every spectrum in the learned window and return the whole result.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            ZLP-subtracted spectra on ``energy_axis``.
        sigma : float or array-like broadcastable to X, default=None
            Standard deviation of every channel in counts (see :meth:`transform`).

        Returns
        -------
        result : BandGapResult
            One replica per spectrum: ``status`` says why a spectrum failed,
            ``p_indirect`` how strongly it prefers an indirect gap.
        """
        check_is_fitted(self)
        X = validate_spectra_data(self, X, reset=False)
        arr = X[None]
        sig = np.broadcast_to(_sigma(sigma, X), arr.shape)
        return _bandgap._fit_validated(
            self.energy_axis_, arr, X, sig, tuple(self.window_), self._options()
        )

    def _options(self):
        """The settings of fit_band_gap's engine that this transformer uses."""
        return {
            "b": check_b(self.b),
            "background": self.background,
            "n_sigma": 2.0,
            "smooth": _bandgap.DEFAULT_SMOOTH,
            # fit_band_gap's default; without an energy axis E is a channel index
            "search_end": 10.0 if self.energy_axis is not None else np.inf,
            "fwhm": self.resolution or 0.0,
            "resolution": self.resolution,
            "unit_zlp": None,
            "min_replica_fraction": 1.0,
            "uniform": self.resolution is not None,
        }

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns."""
        check_is_fitted(self)
        return np.array(["e_bg", "b", "amplitude", "chi2"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _sigma(sigma, X):
    """Per-channel standard deviations of X: counting noise of X, or ``sigma`` checked."""
    return (
        np.sqrt(counting_variance(X, 0.0)) if sigma is None else check_sigma(sigma, X.shape)
    )
