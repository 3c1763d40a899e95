"""EnergyWindow: crop spectra to an energy range."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import energy_axis_or_channels, validate_spectra_data
from ..io._model_mixin import ModelFileMixin
from ..utils._transaction import transactional_fit
from ._edges import _energy_names

__all__ = ["EnergyWindow"]


class EnergyWindow(ModelFileMixin, TransformerMixin, BaseEstimator):
    """Keep the channels with ``e_min <= E <= e_max``.

    The bounds are inclusive to a millionth of a channel, so float rounding in
    the axis does not drop the channel at an edge.

    Parameters
    ----------
    energy_axis : array-like of shape (n_channels,), default=None
        Strictly increasing energy axis in eV; None numbers the channels 0, 1, ...
    e_min : float, default=None
        Lowest energy kept, in eV; None keeps everything from the first channel.
    e_max : float, default=None
        Highest energy kept, in eV; None keeps everything up to the last channel.

    Attributes
    ----------
    energy_axis_ : ndarray of shape (n_channels_out,)
        The cropped axis, matching the output columns.
    support_ : ndarray of bool of shape (n_channels,)
        Which input channels are kept.
    n_features_in_ : int
        Number of input channels.

    See Also
    --------
    ZLPRegionMask : masks region II instead of cropping.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.preprocessing import EnergyWindow
    >>> energy = np.linspace(-1.0, 4.0, 11)
    >>> window = EnergyWindow(energy_axis=energy, e_min=1.0, e_max=2.0)
    >>> window.fit_transform(np.ones((2, 11))).shape
    (2, 3)
    >>> window.energy_axis_
    array([1. , 1.5, 2. ])
    """

    _parameter_constraints: dict = {
        "energy_axis": ["array-like", None],
        "e_min": [Real, None],
        "e_max": [Real, None],
    }

    def __init__(self, energy_axis=None, e_min=None, e_max=None):
        self.energy_axis = energy_axis
        self.e_min = e_min
        self.e_max = e_max

    def _axis(self, n_channels):
        return energy_axis_or_channels(self.energy_axis, n_channels)

    @transactional_fit
    def fit(self, X, y=None):
        """Find the channels inside the window.

        A fit that fails or is interrupted leaves the window as it was.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra on ``energy_axis`` (NaN allowed, e.g. from ZLPRegionMask); any
            real dtype, nested lists and DataFrames work (float32 stays float32).
        y : None
            Ignored.

        Returns
        -------
        self : EnergyWindow
            Fitted window.
        """
        self._validate_params()
        X = validate_spectra_data(
            self, X, reset=True, dtype=(np.float64, np.float32), allow_nan=True
        )
        energy = self._axis(X.shape[1])
        low = -np.inf if self.e_min is None else self.e_min
        high = np.inf if self.e_max is None else self.e_max
        # A millionth of a channel of slack: an axis built as -4 + 0.025 * i holds
        # 0.99999999... where the user means 1.0, and that channel belongs inside.
        slack = 1e-6 * float(np.min(np.diff(energy))) if energy.size > 1 else 0.0
        support = (energy >= low - slack) & (energy <= high + slack)
        if not support.any():
            raise ValueError(
                f"the window e_min={self.e_min}, e_max={self.e_max} holds no channel of "
                f"the axis [{energy[0]:.6g}, {energy[-1]:.6g}]; choose e_min <= e_max "
                "inside the axis range."
            )
        self.support_ = support
        self.energy_axis_ = energy[support]
        return self

    def transform(self, X):
        """Crop the spectra to the window.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra on ``energy_axis``.

        Returns
        -------
        X_cropped : ndarray of shape (n_spectra, n_channels_out)
            The columns of the channels in :attr:`energy_axis_`.
        """
        check_is_fitted(self)
        X = validate_spectra_data(
            self, X, reset=False, dtype=(np.float64, np.float32), allow_nan=True
        )
        return X[:, self.support_]

    def get_feature_names_out(self, input_features=None):
        """Names of the output channels: their energies, ``"E=<eV>"``."""
        check_is_fitted(self)
        return _energy_names(self.energy_axis_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
