"""Writing EEL spectra: :func:`write_spectra` picks the writer by extension."""

import os
from collections.abc import Mapping

import numpy as np

from .._validation import check_energy_axis, check_spectra
from ._metadata import _QUANTITIES, _to_float_or_none
from ._msa import _write_msa
from ._numpy import _write_npz
from ._read import _extension
from ._rsciio import _write_hspy
from ._text import _TEXT_EXTENSIONS, _write_text

_WRITE_EXTENSIONS = (*_TEXT_EXTENSIONS, ".npz", ".msa", ".ems", ".hspy", ".hdf5")


def write_spectra(path, spectra, energy, metadata=None, *, allow_nan=False):
    """Write EEL spectra with their energy axis and metadata to a file.

    The file reads back with :func:`read_spectra` to the same spectra, energy axis,
    acquisition parameters and navigation shape.

    Parameters
    ----------
    path : str or path-like
        File to write (overwritten if it exists). The extension selects the
        format: ``.csv`` (comma-separated), ``.txt``, ``.dat``, ``.tsv``
        (tab-separated), all with the energy in the first column and one spectrum
        per further column, 17 significant digits, so lossless; ``.npz``
        (NumPy archive, lossless); ``.msa``/``.ems`` (EMSA/MSA, one spectrum on a
        uniform axis) and ``.hspy``/``.hdf5`` (HyperSpy), both through
        RosettaSciIO (``pip install "sklearn-zlp[io]"``).
    spectra : array-like of shape (n_channels,), (n_spectra, n_channels) or \
            (..., n_channels)
        Intensities; a spectrum image may keep its navigation axes.
    energy : array-like of shape (n_channels,)
        Strictly increasing energy loss of every channel in eV.
    metadata : dict, default=None
        Optional ``beam_energy`` (keV), ``exposure_time`` (s),
        ``collection_angle`` (mrad), ``convergence_angle`` (mrad) and
        ``navigation_shape`` (tuple; default: the leading axes of ``spectra``), as
        returned by :func:`read_spectra`. ``.hspy`` also stores
        ``original_metadata``; other keys are ignored.
    allow_nan : bool, default=False
        Write NaN intensities too (results that failed, such as the subtracted
        spectrum of a spectrum without region I, whose status says why), rather
        than refuse them. :func:`read_spectra` refuses such a file as input,
        naming the NaN.

    Returns
    -------
    path : str or path-like
        ``path``, as given.

    Raises
    ------
    ValueError
        If the extension cannot be written, the inputs are invalid (complex,
        boolean, non-numeric, NaN or infinite intensities; an energy axis that is
        not strictly increasing or has the wrong length), or the format cannot hold
        them (several spectra or a non-uniform axis in MSA).
    IsADirectoryError, FileNotFoundError
        If ``path`` is a directory, or its folder does not exist.

    See Also
    --------
    read_spectra : Read the file back.
    to_hyperspy : The same content as a HyperSpy signal in memory.

    Notes
    -----
    MSA stores the intensities with 6 decimals (RosettaSciIO's writer), so they
    read back to within 1e-6 counts, and the axis as ``OFFSET`` and ``XPERCHAN``;
    the exposure time goes to ``INTEGTIME`` in ms, as the standard defines it.
    Digital Micrograph files cannot be written (no open writer exists); use
    ``.hspy`` to keep everything for HyperSpy or Gatan's import.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_zlp.io import read_spectra, write_spectra
    >>> energy = np.arange(5) * 0.5 - 1.0
    >>> image = np.ones((2, 3, 5))
    >>> path = write_spectra(os.path.join(tempfile.mkdtemp(), "image.npz"), image,
    ...                      energy, {"beam_energy": 60.0, "exposure_time": 0.01})
    >>> spectra, energy, metadata = read_spectra(path)
    >>> spectra.shape, metadata["navigation_shape"], metadata["exposure_time"]
    ((6, 5), (2, 3), 0.01)
    """
    target = os.fspath(path)
    ext = _extension(target)
    if ext not in _WRITE_EXTENSIONS:
        extra = ""
        if ext in (".dm3", ".dm4"):
            extra = " Digital Micrograph files cannot be written; .hspy keeps all."
        elif ext == ".npy":
            extra = " A .npy file cannot hold the energy axis; use .npz."
        raise ValueError(
            f"Cannot write '{target}': extension {ext or '(none)'!r} is not supported "
            f"for writing. Use one of {', '.join(_WRITE_EXTENSIONS)}.{extra}"
        )
    _check_target(target)
    data, flat, energy, md = _prepare_output(spectra, energy, metadata, allow_nan=allow_nan)
    if ext in _TEXT_EXTENSIONS:
        _write_text(target, flat, energy, md, "," if ext == ".csv" else "\t")
    elif ext == ".npz":
        _write_npz(target, data, energy, md)
    elif ext in (".msa", ".ems"):
        _write_msa(target, flat, energy, md)
    else:
        _write_hspy(target, data, energy, md)
    return path


def _check_target(target):
    if os.path.isdir(target):
        raise IsADirectoryError(
            f"Cannot write '{target}': it is a directory; pass the path of a file, "
            f"e.g. os.path.join({target!r}, 'spectra.csv')."
        )
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Cannot write '{target}': the folder '{folder}' does not exist; create it "
            "first (os.makedirs(folder, exist_ok=True)) or check the path."
        )


def _prepare_output(spectra, energy, metadata, name="spectra", allow_nan=False):
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise ValueError(
            f"metadata must be a dict (e.g. the one read_spectra returns) or None, "
            f"got {type(metadata).__name__}."
        )
    data = check_spectra(spectra, name=name, allow_nd=True, allow_nan=allow_nan)
    n_channels = data.shape[-1]
    flat = data.reshape(-1, n_channels)
    energy = check_energy_axis(energy, n_channels, name="energy")
    shape = metadata.get("navigation_shape")
    if shape is None:
        shape = data.shape[:-1] if data.ndim != 2 or flat.shape[0] > 1 else ()
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"metadata['navigation_shape'] must be a tuple of integers such as (2, 3), "
            f"got {shape!r}."
        ) from exc
    if int(np.prod(shape)) != flat.shape[0]:
        raise ValueError(
            f"metadata['navigation_shape'] = {shape} holds {int(np.prod(shape))} "
            f"spectra but {name} has {flat.shape[0]}; pass the matching shape or "
            "leave it out."
        )
    md = {"navigation_shape": shape}
    for key in _QUANTITIES:
        value = metadata.get(key)
        if value is not None:
            number = _to_float_or_none(value)
            if number is None:
                raise ValueError(
                    f"metadata[{key!r}] must be a finite number or None, got {value!r}."
                )
            value = number
        md[key] = value
    md["source"] = metadata.get("source") or ""
    md["original_metadata"] = dict(metadata.get("original_metadata") or {})
    return flat.reshape(*shape, n_channels), flat, energy, md
