"""The real WS2 low-loss spectra of Roest et al. (2021), shipped with the package."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_ws2"]

_FOLDER = "data/ws2_specimen4"
_VACUUM = ("vacuum_17", "vacuum_22", "vacuum_23")
_SAMPLE = ("sample_14", "sample_15", "sample_16", "sample_19", "sample_20", "sample_21")
# Axis as defined in the data's README: 1981 bins between these edges, in eV.
_N_CHANNELS = 1981
_E_LOW, _E_HIGH = -4.054, 45.471


def _read(name):
    text = resources.files(__package__).joinpath(f"{_FOLDER}/{name}.txt").read_text()
    values = np.array(text.split(), dtype=np.float64)
    if values.size != _N_CHANNELS:
        raise OSError(
            f"bundled file {name}.txt has {values.size} values instead of "
            f"{_N_CHANNELS}; the installation is damaged, reinstall sklearn-zlp."
        )
    return values


def load_ws2():
    """Load the WS2 nanoflower low-loss spectra (specimen 4) of Roest et al. (2021).

    Three spectra recorded in vacuum beside a 2H/3R polytypic WS2 nanoflower and
    six recorded on it, unaligned, as measured (the ZLP maximum sits near
    -0.04 eV on the raw axis).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        energy : ndarray of shape (1981,)
            Bin centres in eV: ``-4.054 + (45.471 + 4.054) * (i + 0.5) / 1981``.
        vacuum : ndarray of shape (3, 1981)
            Vacuum spectra in counts (files 17, 22, 23).
        sample : ndarray of shape (6, 1981)
            Specimen spectra in counts (files 14, 15, 16, 19, 20, 21).
        names : dict
            ``{"vacuum": [...], "sample": [...]}``, the file stems in row order.
        DESCR : str
            Provenance, citation and published results.

    Notes
    -----
    Intensities are detector counts after dark/gain correction, so some tail
    channels are negative. Even so, far out on the gain side (beyond 3 FWHM)
    the specimen spectra level off at 260-380 +- 13 counts per channel above a
    power-law ZLP tail, the vacuum spectra at 28-227: a residual offset or the
    detector's far tail. Counted as losses it is 0.009-0.014 of their t/lambda
    (~0.1-0.12); ``ZLPSubtractor`` results say so in ``t_over_lambda_status``
    (``"gain_side_floor"``). Published on these spectra: band gap
    E_bg = 1.6 (+0.3/-0.2) eV with an indirect-gap onset exponent; exciton-like
    peaks near 1.5, 1.7 and 2.0 eV.

    References
    ----------
    L. I. Roest, S. E. van Heijst, L. Maduro, J. Rojo, S. Conesa-Boj, "Charting
    the low-loss region in electron energy loss spectroscopy with machine
    learning", Ultramicroscopy 222 (2021) 113202, doi:10.1016/j.ultramic.2021.113202.
    Data: doi:10.5281/zenodo.4020657.

    Examples
    --------
    >>> from sklearn_zlp.datasets import load_ws2
    >>> ws2 = load_ws2()
    >>> ws2.sample.shape, ws2.vacuum.shape, ws2.energy.shape
    ((6, 1981), (3, 1981), (1981,))
    """
    energy = _E_LOW + (_E_HIGH - _E_LOW) * (np.arange(_N_CHANNELS) + 0.5) / _N_CHANNELS
    descr = resources.files(__package__).joinpath(f"{_FOLDER}/README.md").read_text()
    return Bunch(
        energy=energy,
        vacuum=np.stack([_read(n) for n in _VACUUM]),
        sample=np.stack([_read(n) for n in _SAMPLE]),
        names={"vacuum": list(_VACUUM), "sample": list(_SAMPLE)},
        DESCR=descr,
    )
