"""Formats read through RosettaSciIO: MSA, Digital Micrograph, HyperSpy, EMD, zarr.

RosettaSciIO returns signals as dicts (data, axes, metadata, original_metadata);
this module turns one of them into spectra, an energy axis in eV and the package's
metadata, and turns damage that RosettaSciIO or h5py report in their own words
(or not at all, for MSA) into errors that name the file and the fix.
"""

import os
import re
import struct
from copy import deepcopy

import numpy as np

from .._validation import check_energy_axis
from ._axes import (
    _axis_values,
    _energy_factor,
    _energy_unit_factor,
    _navigation_axis_dicts,
    _resolve_energy,
    _signal_axis_dict,
)
from ._checks import _spectra_from_array
from ._metadata import (
    _apply_mapping,
    _hyperspy_metadata,
    _make_metadata,
    _quantities_from_hyperspy_tree,
)
from ._msa import _check_msa_complete, _check_msa_points, _msa_exposure
from ._optional import _import_rsciio
from ._spectra_file import SpectraFile

# extension -> (RosettaSciIO plugin module, format name reported in metadata)
_RSCIIO_EXTENSIONS = {
    ".msa": ("msa", "msa"),
    ".ems": ("msa", "msa"),
    ".dm3": ("digitalmicrograph", "dm3"),
    ".dm4": ("digitalmicrograph", "dm4"),
    ".hspy": ("hspy", "hspy"),
    ".hdf5": ("hspy", "hspy"),
    ".emd": ("emd", "emd"),
    ".zspy": ("zspy", "zspy"),
}
_FIX = "copy or export it again"


def _read_rsciio(source, ext, energy, signal_index):
    plugin, fmt = _RSCIIO_EXTENSIONS[ext]
    module = _import_rsciio(plugin, fmt)
    if plugin == "msa":
        _check_msa_complete(source)
    elif plugin == "digitalmicrograph":
        _check_dm_header(source)
    try:
        signals = module.file_reader(source)
    except ImportError:  # an optional codec of the format: the message says which
        raise
    except Exception as exc:  # readers raise many types for damaged files
        raise _damaged_file_error(source, fmt, exc) from exc
    if not isinstance(signal_index, int | np.integer) or not (
        -len(signals) <= signal_index < len(signals)
    ):
        raise ValueError(
            f"signal_index={signal_index!r} is out of range: '{source}' holds "
            f"{len(signals)} signal(s); pass an integer from 0 to {len(signals) - 1}."
        )
    signal = signals[signal_index]
    data = signal["data"]
    if hasattr(data, "compute"):
        data = data.compute()
    data = np.asarray(data)
    original = signal.get("original_metadata") or {}
    if plugin == "msa":
        _check_msa_points(source, data.size, original)
    where = f"signal {signal_index} of '{source}'"
    if data.dtype.kind not in "iuf":
        raise ValueError(
            f"{where} has data of type {data.dtype}, not real intensities; it is not "
            "an EEL spectrum (pick another one with signal_index)."
        )
    axes = sorted(
        enumerate(signal["axes"]), key=lambda pair: pair[1].get("index_in_array", pair[0])
    )
    axes = [axis for _, axis in axes]
    if len(axes) != data.ndim:
        raise ValueError(
            f"{where} has {data.ndim}-D data but {len(axes)} axes in its metadata; "
            "the file is inconsistent."
        )
    signal_axis = _find_signal_axis(axes, where, len(signals))
    data = np.moveaxis(data, signal_axis, -1)
    axes = [a for i, a in enumerate(axes) if i != signal_axis] + [axes[signal_axis]]
    if fmt in ("dm3", "dm4"):
        # HyperSpy squeezes Digital Micrograph data: a single spectrum is often
        # stored as a 1 x n image.
        data = data.reshape([n for n in data.shape[:-1] if n != 1] + [data.shape[-1]])
    spectra, navigation_shape = _spectra_from_array(data, where, "The data")

    n_channels = spectra.shape[1]
    if energy is not None:
        energy = _resolve_energy(energy, n_channels, source)
    else:
        factor = _energy_factor(
            axes[-1].get("units"),
            where,
            stacklevel=4,  # the caller of read_spectra
            fix="Pass energy=... to read_spectra to set the axis.",
        )
        energy = check_energy_axis(
            _axis_values(axes[-1], n_channels) * factor,
            n_channels,
            name=f"The energy axis of {where}",
        )

    metadata = deepcopy(dict(signal.get("metadata") or {}))
    if "mapping" in signal:
        _apply_mapping(metadata, original, signal["mapping"])
    quantities = _quantities_from_hyperspy_tree(metadata)
    if plugin == "msa":
        quantities["exposure_time"] = _msa_exposure(original)
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(
            source=source,
            fmt=fmt,
            navigation_shape=navigation_shape,
            original_metadata=dict(original),
            **quantities,
        ),
    )


def _check_dm_header(source):
    """Raise if a Digital Micrograph file is shorter than its header declares.

    DM3/DM4 files start with the version (3 or 4, 4 bytes) and the length of the
    tag tree (4 or 8 bytes, big-endian); complete files are longer than that length
    (by the 12-24 bytes of header and end marker).
    """
    size = os.path.getsize(source)
    with open(source, "rb") as f:
        head = f.read(16)
    if len(head) < 4:
        raise ValueError(
            f"'{source}' is truncated: it holds {size} bytes, fewer than the header of "
            f"a Digital Micrograph file; {_FIX}."
        )
    version = struct.unpack(">i", head[:4])[0]
    if version not in (3, 4):
        raise ValueError(
            f"'{source}' is not a Digital Micrograph file: DM3/DM4 files start with "
            "the version number 3 or 4, and this one does not; check its format (and "
            "extension)."
        )
    length_format = ">I" if version == 3 else ">Q"
    end = 4 + struct.calcsize(length_format)
    if len(head) < end + 4:
        raise ValueError(
            f"'{source}' is truncated: it ends inside its DM{version} header; {_FIX}."
        )
    declared = struct.unpack(length_format, head[4:end])[0]
    if size < declared:
        raise ValueError(
            f"'{source}' is truncated: its DM{version} header declares {declared} bytes "
            f"of tags but the file holds only {size} bytes; {_FIX}."
        )


def _damaged_file_error(source, fmt, exc):
    text = str(exc)
    truncated = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
    if truncated:
        return ValueError(
            f"'{source}' is truncated: it holds {truncated[1]} bytes but its HDF5 "
            f"header says {truncated[2]}; {_FIX}."
        )
    if "file signature not found" in text:
        return ValueError(
            f"'{source}' is not a {fmt} file: {fmt} files are HDF5 files, and this one "
            "lacks the HDF5 signature (another format, or damaged); check its format "
            "(and extension)."
        )
    return ValueError(
        f"Could not read '{source}' as a {fmt} file ({type(exc).__name__}: {exc}). "
        "Check that the file is complete (not truncated by a copy or transfer) "
        "and really is in this format."
    )


def _find_signal_axis(axes, where, n_signals):
    candidates = [i for i, axis in enumerate(axes) if not axis.get("navigate", False)]
    if len(candidates) == 1:
        return candidates[0]
    # Digital Micrograph spectrum images arrive as image stacks that HyperSpy turns
    # into spectra afterwards; their energy axis is the one calibrated in eV.
    energy_like = [
        i
        for i, axis in enumerate(axes)
        if _energy_unit_factor(axis.get("units", "")) is not None
    ]
    if len(energy_like) == 1:
        return energy_like[0]
    shape = tuple(int(axis["size"]) for axis in axes)
    other = (
        f" The file holds {n_signals} signals; pick another with signal_index."
        if n_signals > 1
        else ""
    )
    raise ValueError(
        f"{where} is not a set of 1-D spectra: it has {len(candidates)} signal axes "
        f"(data shape {shape}, e.g. an image), and no single axis in eV to take as the "
        f"energy axis.{other}"
    )


def _write_hspy(target, data, energy, md):
    module = _import_rsciio("hspy", "hspy")
    signal = {
        "data": data,
        "axes": _navigation_axis_dicts(data.shape[:-1]) + [_signal_axis_dict(energy)],
        "metadata": _hyperspy_metadata(md),
        "original_metadata": deepcopy(md["original_metadata"]),
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"package": "", "package_version": ""},
    }
    module.file_writer(target, signal, show_progressbar=False)
