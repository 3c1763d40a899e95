"""Reading EEL spectra: :func:`read_spectra` picks the reader by extension.

Every reader returns the same three things, a :class:`SpectraFile`
``(spectra, energy, metadata)``: the spectra as rows of a float64 array, the energy
axis in eV, and a plain dict with the acquisition parameters the zero-loss analysis
needs. Formats other than text and NumPy go through RosettaSciIO (``rsciio``),
imported only when used.
"""

import os

from ._axes import check_energy_unit
from ._checks import _check_path
from ._numpy import _read_npy, _read_npz
from ._rsciio import _RSCIIO_EXTENSIONS, _read_rsciio
from ._text import _TEXT_EXTENSIONS, _read_text

_READ_EXTENSIONS = (*_TEXT_EXTENSIONS, ".npy", ".npz", *_RSCIIO_EXTENSIONS)


def read_spectra(path, *, energy=None, layout="auto", signal_index=0, energy_unit=None):
    """Read EEL spectra, their energy axis and metadata from a file.

    Parameters
    ----------
    path : str or path-like
        File to read. The extension selects the format: ``.txt``, ``.dat``,
        ``.csv``, ``.tsv`` (text), ``.npy``, ``.npz`` (NumPy), ``.msa``/``.ems``
        (EMSA/MSA), ``.dm3``/``.dm4`` (Gatan Digital Micrograph), ``.hspy``/
        ``.hdf5`` (HyperSpy), ``.emd`` (NCEM/Velox EMD) and ``.zspy`` (HyperSpy
        zarr). The last six need RosettaSciIO (``pip install "sklearn-zlp[io]"``).
    energy : array-like of shape (n_channels,) or tuple of (float, float), \
            default=None
        Energy axis in eV, for files that have none (text in rows layout,
        ``.npy``), or to override the file's axis. Either the energy of every
        channel, or a tuple ``(offset, dispersion)`` meaning channel ``i`` lies at
        ``offset + dispersion * i`` eV.
    layout : {"auto", "rows", "columns"}, default="auto"
        Text files only. ``"rows"``: every line is one spectrum and the file holds
        no energy axis. ``"columns"``: the first column is the energy axis and every
        further column one spectrum (the usual spreadsheet or Gatan text export).
        ``"auto"`` takes a ``# layout: ...`` comment line if there is one (files
        written by :func:`write_spectra` have it), else ``"columns"`` if there are
        at least two columns, more lines than columns and a strictly increasing
        first column, else ``"rows"``. A single column is always one spectrum,
        one value per line.
    signal_index : int, default=0
        Which signal to take from a file that holds several (Digital Micrograph,
        EMD, HyperSpy files).
    energy_unit : {"eV", "keV", "meV"}, default=None
        Text files only: the unit of the energy column, for files whose header
        does not name one (or that have no header). None reads such a column as
        eV, but refuses it if it does not look like eV: channels closer than
        0.7 meV, or a zero-loss peak at 0 eV narrower than 2 meV or wider than
        10 eV (a keV or meV axis); the error says which unit it looks like.
        A header that names a unit (``energy_keV``) must agree with it.

    Returns
    -------
    spectra : ndarray of shape (n_spectra, n_channels)
        Intensities as float64, one spectrum per row, navigation axes flattened.
    energy : ndarray of shape (n_channels,)
        Energy loss of every channel in eV, strictly increasing (keV and meV axes
        are converted).
    metadata : dict
        ``beam_energy`` (keV), ``exposure_time`` (s), ``collection_angle`` (mrad),
        ``convergence_angle`` (mrad), each None if the file does not say;
        ``navigation_shape``, ``source``, ``format`` and ``original_metadata``. See
        :class:`SpectraFile`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    ValueError
        If the extension is unknown, the file is empty, truncated or damaged, the
        content cannot be parsed, the data hold NaN or infinite values, or the
        energy axis is missing, invalid or not in an energy unit.
    ImportError
        If the format needs RosettaSciIO and it is not installed.

    See Also
    --------
    write_spectra : Write spectra in a form this function reads back.
    from_hyperspy : The same result from a HyperSpy signal in memory.

    Notes
    -----
    Text files may be separated by whitespace, commas, tabs or semicolons (with a
    decimal comma then allowed), may hold ``#`` comment lines and one non-numeric
    header line. A first header column naming keV or meV (e.g. ``energy_keV``)
    converts the axis to eV; one naming another unit (``Wavelength (nm)``,
    ``Channel``) is an error. Comment lines ``# beam_energy_keV: 200``,
    ``# exposure_time_s: ...``, ``# collection_angle_mrad: ...``,
    ``# convergence_angle_mrad: ...`` and ``# navigation_shape: (ny, nx)`` fill the
    metadata; ``# n_spectra: ...`` and ``# n_channels: ...`` (which
    :func:`write_spectra` writes) declare the shape, and a file that holds fewer
    values, or ends without a final line break, is rejected as truncated. In any
    text file, a last line shorter than the others is rejected as truncated; a file
    without these lines that was cut exactly at a line break cannot be told from a
    shorter one.

    The MSA standard gives ``INTEGTIME`` and ``DWELLTIME`` in ms; they are
    converted to ``exposure_time`` in s. An MSA file must end with its
    ``#ENDOFDATA`` line and hold the ``#NPOINTS`` it declares; otherwise it is
    rejected as truncated or damaged. A ``.npy`` or ``.npz`` file shorter than its
    header declares is rejected too, and Python objects (pickles) in NumPy files
    are never loaded.

    Digital Micrograph spectrum images are read like HyperSpy does: navigation
    axes of length 1 are dropped, and the energy axis is the one calibrated in eV.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_zlp.io import read_spectra, write_spectra
    >>> energy = np.linspace(-1.0, 4.0, 6)
    >>> path = os.path.join(tempfile.mkdtemp(), "spectra.csv")
    >>> path = write_spectra(path, [[1.0, 9.0, 3.0, 2.0, 1.5, 1.0]], energy,
    ...                      {"beam_energy": 200.0})
    >>> spectra, energy, metadata = read_spectra(path)
    >>> spectra.shape, energy[:3].tolist(), metadata["beam_energy"]
    ((1, 6), [-1.0, 0.0, 1.0], 200.0)

    A file of bare intensities, one spectrum per line, needs its axis:

    >>> np.savetxt(os.path.join(os.path.dirname(path), "rows.txt"), [[1.0, 9.0, 3.0]])
    >>> spectra, energy, _ = read_spectra(os.path.join(os.path.dirname(path), "rows.txt"),
    ...                                   energy=(-0.5, 0.5))
    >>> energy
    array([-0.5,  0. ,  0.5])
    """
    source = os.fspath(path)
    if layout not in ("auto", "rows", "columns"):
        raise ValueError(
            f"layout={layout!r} is not supported; use 'auto', 'rows' (one spectrum "
            "per line, no energy axis) or 'columns' (energy in the first column)."
        )
    ext = _extension(source)
    if ext not in _READ_EXTENSIONS:
        raise ValueError(
            f"Cannot read '{source}': unknown extension {ext or '(none)'!r}. "
            f"Supported extensions: {', '.join(_READ_EXTENSIONS)}. Rename the file if "
            "it holds one of these formats, or load it yourself and pass the arrays on."
        )
    unit_factor = check_energy_unit(energy_unit)
    if unit_factor is not None and ext not in _TEXT_EXTENSIONS:
        raise ValueError(
            f"energy_unit={energy_unit!r} applies to text files, whose energy column "
            f"may not state its unit; '{source}' is {ext!r}, whose axis carries its "
            "own unit. Drop energy_unit, or pass energy=... in eV."
        )
    _check_path(source, directory_ok=ext == ".zspy")  # zarr stores are directories
    if ext in _TEXT_EXTENSIONS:
        return _read_text(source, energy, layout, unit_factor)
    if ext == ".npy":
        return _read_npy(source, energy)
    if ext == ".npz":
        return _read_npz(source, energy)
    return _read_rsciio(source, ext, energy, signal_index)


def _extension(source):
    return os.path.splitext(source.rstrip("/\\"))[1].lower()
