"""The one result every reader returns: spectra, energy axis, metadata."""

from typing import NamedTuple

import numpy as np


class SpectraFile(NamedTuple):
    """Spectra, their energy axis and their metadata, as read from a file.

    A named tuple, so ``spectra, energy, metadata = read_spectra(path)`` works.

    Attributes
    ----------
    spectra : ndarray of shape (n_spectra, n_channels)
        Intensities (float64), one spectrum per row; the navigation axes of a
        spectrum image are flattened in C order.
    energy : ndarray of shape (n_channels,)
        Strictly increasing energy loss of every channel in eV (float64).
    metadata : dict
        Always holds ``beam_energy`` (keV), ``exposure_time`` (s),
        ``collection_angle`` (mrad), ``convergence_angle`` (mrad), each a float or
        None if unknown; ``navigation_shape`` (tuple, ``()`` for one spectrum, so
        ``spectra.reshape(*navigation_shape, -1)`` restores a spectrum image);
        ``source`` (str), ``format`` (str) and ``original_metadata`` (dict, the
        file's own metadata, possibly empty).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.io import SpectraFile
    >>> result = SpectraFile(np.ones((1, 3)), np.array([-1.0, 0.0, 1.0]), {})
    >>> spectra, energy, metadata = result
    >>> spectra.shape
    (1, 3)
    """

    spectra: np.ndarray
    energy: np.ndarray
    metadata: dict
