"""Reading and writing spectra: text, NumPy, rosettasciio formats, HyperSpy.

Text/CSV/.npy/.npz always; .msa/.dm3/.dm4/.hspy/.emd through rosettasciio
(``pip install "sklearn-zlp[io]"``); HyperSpy signals in and out with
``pip install "sklearn-zlp[hyperspy]"``. Neither is imported until a file or
signal needs it.

One module per format family: ``_text`` (.txt/.dat/.csv/.tsv), ``_numpy``
(.npy/.npz), ``_rsciio`` and ``_msa`` (RosettaSciIO formats), ``_hyperspy``
(signals in memory); ``_read`` and ``_write`` pick among them by extension.
Fitted estimators: ``est.save(path)`` (:func:`save_model` for a Pipeline) and :func:`load_model` (``_model_file``: JSON
plus ``.npy`` arrays in a zip, loaded without executing code; no pickle).
"""

from ._hyperspy import from_hyperspy, to_hyperspy
from ._model_file import ModelFileError, load_model, save_model
from ._read import read_spectra
from ._spectra_file import SpectraFile
from ._write import write_spectra

__all__ = [
    "ModelFileError",
    "SpectraFile",
    "from_hyperspy",
    "load_model",
    "read_spectra",
    "save_model",
    "to_hyperspy",
    "write_spectra",
]
