"""Files in: every spectrum of every file as one row, with its name and origin.

Spectrum images and line scans are flattened to rows (C order, as
:func:`~sklearn_zlp.io.read_spectra` returns them); each row remembers its file
and its navigation index, so that results can be named and images rebuilt.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from ..io import read_spectra
from ..io._text import _TEXT_EXTENSIONS
from ._errors import UserError

# A file's energy axis equals another's when no channel is off by more than this
# fraction of a channel (formats store the axis as offset and scale in decimal).
_AXIS_TOLERANCE = 1e-3


@dataclass
class Inputs:
    """Spectra read from files, one per row, on one energy axis.

    Attributes
    ----------
    spectra : ndarray of shape (n_spectra, n_channels)
    energy : ndarray of shape (n_channels,)
        The files' common axis in eV.
    names : list of str
        One per row: the file's name, with ``[i]`` or ``[y,x]`` for a pixel.
    files : list of str
        The path of each file, in order.
    file_of_row : ndarray of int of shape (n_spectra,)
        Index into ``files`` of each row.
    navigation_shapes : list of tuple
        Navigation shape of each file (``()`` for one spectrum).
    formats : list of str
        Format of each file as the reader names it.
    metadata : list of dict
        Metadata of each file (see :class:`~sklearn_zlp.io.SpectraFile`).
    """

    spectra: np.ndarray
    energy: np.ndarray
    names: list
    files: list
    file_of_row: np.ndarray
    navigation_shapes: list = field(default_factory=list)
    formats: list = field(default_factory=list)
    metadata: list = field(default_factory=list)

    @property
    def image_shape(self):
        """The navigation shape if all rows are one spectrum image (2-D), else None."""
        if len(self.files) == 1 and len(self.navigation_shapes[0]) >= 2:
            return self.navigation_shapes[0]
        return None


def _label(path, paths):
    """A short name for ``path``: its base name, or the path where names repeat."""
    base = os.path.basename(path)
    if sum(os.path.basename(p) == base for p in paths) > 1:
        return os.path.normpath(path)
    return base


def _row_names(label, shape):
    if shape == ():
        return [label]
    return [f"{label}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)]


def read_one(path, energy=None, energy_unit=None):
    """:func:`read_spectra` with the command-line options applied.

    ``--energy-unit`` applies to text files only (other formats carry their
    axis's unit), so it is passed to those alone.
    """
    text = os.path.splitext(path)[1].lower() in _TEXT_EXTENSIONS
    return read_spectra(
        path,
        energy=None if energy is None else tuple(energy),
        energy_unit=energy_unit if text else None,
    )


def read_inputs(paths, *, energy=None, energy_unit=None, what="specimen"):
    """Read every file and stack their spectra on one common axis.

    Parameters
    ----------
    paths : list of str
    energy : tuple of (float, float), default=None
        ``--energy OFFSET DISPERSION``.
    energy_unit : str, default=None
        ``--energy-unit``.
    what : str, default="specimen"
        What the files are, for messages.

    Returns
    -------
    inputs : Inputs

    Raises
    ------
    UserError
        If the files' energy axes differ.
    """
    if energy_unit is not None and not any(
        os.path.splitext(p)[1].lower() in _TEXT_EXTENSIONS for p in paths
    ):
        raise UserError(
            f"--energy-unit applies to text files ({', '.join(_TEXT_EXTENSIONS)}), whose "
            f"energy column may not state its unit; the {what} files are "
            f"{', '.join(map(repr, paths))}, whose axes carry their own unit. Drop "
            "--energy-unit."
        )
    blocks, names, rows, shapes, formats, metadata = [], [], [], [], [], []
    reference = None
    for k, path in enumerate(paths):
        spectra, axis, md = read_one(path, energy, energy_unit)
        if reference is None:
            reference = (path, axis)
        else:
            _check_same_axis(reference, (path, axis), what)
        shape = tuple(md.get("navigation_shape") or ())
        if int(np.prod(shape)) != spectra.shape[0]:  # a reader that lost the shape
            shape = (spectra.shape[0],) if spectra.shape[0] > 1 else ()
        blocks.append(spectra)
        names += _row_names(_label(path, paths), shape)
        rows.append(np.full(spectra.shape[0], k))
        shapes.append(shape)
        formats.append(str(md.get("format", "")))
        metadata.append(md)
    return Inputs(
        spectra=np.vstack(blocks),
        energy=reference[1],
        names=names,
        files=list(paths),
        file_of_row=np.concatenate(rows),
        navigation_shapes=shapes,
        formats=formats,
        metadata=metadata,
    )


def describe_axis(axis):
    """``"2001 channels, -2 to 18 eV, 0.01 eV/channel"``."""
    step = (axis[-1] - axis[0]) / max(axis.size - 1, 1)
    return (
        f"{axis.size} channels, {axis[0]:.6g} to {axis[-1]:.6g} eV, {step:.4g} eV/channel"
    )


def _check_same_axis(first, other, what):
    (path0, axis0), (path1, axis1) = first, other
    if axis0.size == axis1.size:
        step = (axis0[-1] - axis0[0]) / max(axis0.size - 1, 1)
        if np.max(np.abs(axis0 - axis1)) <= _AXIS_TOLERANCE * abs(step):
            return
    raise UserError(
        f"the {what} files do not share one energy axis: '{path0}' has "
        f"{describe_axis(axis0)}, '{path1}' has {describe_axis(axis1)}. Resample "
        "them onto one axis first (e.g. np.interp on a common grid, or HyperSpy's "
        "interpolate_on_axis), or run them in separate commands."
    )


def check_vacuum_compatible(vacuum, specimen):
    """Vacuum spectra must be spectra (not an image) on the specimen's axis."""
    for path, shape in zip(vacuum.files, vacuum.navigation_shapes, strict=True):
        if len(shape) >= 2:
            raise UserError(
                f"--vacuum takes spectra recorded in vacuum, but '{path}' is a "
                f"{' x '.join(map(str, shape))} spectrum image; pass its vacuum pixels "
                "as a spectrum or line-scan file (e.g. signal.inav[...] saved with "
                "HyperSpy), or leave --vacuum out."
            )
    _check_same_axis(
        (specimen.files[0], specimen.energy),
        (vacuum.files[0], vacuum.energy),
        "specimen and vacuum",
    )
