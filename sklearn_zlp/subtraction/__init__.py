"""Spectra in, ZLP-free spectra out: point table, matching, the subtractor, its result.

:class:`ZLPSubtractor` builds the point table from the spectra and their
training regions (``_point_table``), fits a clone of its regressor, matches every
replica's ZLP to the data (``_matching``) and subtracts, streaming over batches
of spectra (``_streaming``); :meth:`~ZLPSubtractor.subtract` returns a
:class:`ZLPSubtractionResult` with medians and bands (and a status per
spectrum), and :meth:`~ZLPSubtractor.subtract_batches` every replica, one
batch at a time. :func:`calibrate_band_scale` recalibrates the bands on spectra
with a known truth (``_calibration``).
"""

from ._calibration import band_coverage, calibrate_band_scale
from ._result import ZLPSubtractionResult
from ._subtractor import ZLPSubtractor, default_regressor

__all__ = [
    "ZLPSubtractionResult",
    "ZLPSubtractor",
    "band_coverage",
    "calibrate_band_scale",
    "default_regressor",
]
