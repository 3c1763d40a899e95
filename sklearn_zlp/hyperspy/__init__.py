"""HyperSpy-native ZLP removal: a signal in, the ZLP and the subtracted signal out.

:func:`remove_zlp` takes a HyperSpy ``Signal1D`` or an eXSpy ``EELSSpectrum``
(lazy too) and returns :class:`ZLPSignals`: the subtracted spectra, the
matched ZLP and their bands as HyperSpy signals with the input's axes and
metadata, t/lambda per pixel and a status per pixel.
"""

from ._remove import remove_zlp
from ._signals import ZLPSignals

__all__ = ["ZLPSignals", "remove_zlp"]
