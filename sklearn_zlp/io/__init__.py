"""Reading and writing spectra: text, NumPy, rosettasciio formats, HyperSpy.

Text/CSV/.npy/.npz always; .msa/.dm3/.dm4/.hspy/.emd through rosettasciio
(``pip install "sklearn-zlp[io]"``); HyperSpy signals in and out with
``pip install "sklearn-zlp[hyperspy]"``.
"""

from ._io import SpectraFile, from_hyperspy, read_spectra, to_hyperspy, write_spectra

__all__ = ["SpectraFile", "from_hyperspy", "read_spectra", "to_hyperspy", "write_spectra"]
