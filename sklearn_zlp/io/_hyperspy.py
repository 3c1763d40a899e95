"""The HyperSpy bridge: spectra, axis and metadata from and to HyperSpy signals."""

import importlib.util
from copy import deepcopy

import numpy as np

from .._validation import check_energy_axis
from ._axes import _energy_factor, _navigation_axis_dicts, _signal_axis_dict
from ._checks import _spectra_from_array
from ._metadata import _HYPERSPY_PATHS, _make_metadata, _quantities_from_hyperspy_tree
from ._optional import _import_hyperspy
from ._spectra_file import SpectraFile
from ._write import _prepare_output


def from_hyperspy(signal):
    """Take the spectra, energy axis and metadata out of a HyperSpy signal.

    Parameters
    ----------
    signal : hyperspy.signals.Signal1D
        A spectrum or spectrum image (any navigation dimensions), possibly lazy
        (it is computed) and possibly an ``EELSSpectrum`` from eXSpy.

    Returns
    -------
    spectra : ndarray of shape (n_spectra, n_channels)
        Intensities as float64, one spectrum per row, navigation axes flattened
        in the order of ``signal.data``.
    energy : ndarray of shape (n_channels,)
        Energy loss of every channel in eV (keV and meV axes converted).
    metadata : dict
        As from :func:`read_spectra`, with ``format="hyperspy"``, ``source`` the
        signal's title, ``navigation_shape`` equal to ``signal.data.shape[:-1]``
        and the acquisition parameters from the standard HyperSpy metadata paths.

    Raises
    ------
    TypeError
        If ``signal`` is not a HyperSpy signal.
    ValueError
        If the signal is not 1-D (e.g. an image), holds complex, boolean, NaN or
        infinite values, or has an invalid energy axis or one in a unit other than
        eV, keV or meV.

    See Also
    --------
    to_hyperspy : The reverse.
    read_spectra : The same result from a file.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspy.api as hs
    >>> from sklearn_zlp.io import from_hyperspy
    >>> signal = hs.signals.Signal1D(np.ones((2, 4)))
    >>> signal.axes_manager.signal_axes[0].units = "eV"
    >>> signal.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    >>> spectra, energy, metadata = from_hyperspy(signal)
    >>> spectra.shape, metadata["navigation_shape"], metadata["beam_energy"]
    ((2, 4), (2,), 300.0)
    """
    _import_hyperspy()
    from hyperspy.signal import BaseSignal

    if not isinstance(signal, BaseSignal):
        raise TypeError(
            f"from_hyperspy expects a HyperSpy signal, got {type(signal).__name__}; "
            "for arrays use them directly, for files use read_spectra."
        )
    title = str(signal.metadata.get_item("General.title", "") or "")
    where = f"signal '{title}'" if title else "the signal"
    axes_manager = signal.axes_manager
    if axes_manager.signal_dimension != 1:
        raise ValueError(
            f"{where} has {axes_manager.signal_dimension} signal dimensions "
            f"(shape {signal.data.shape}, e.g. an image), but spectra need exactly 1; "
            "make the energy axis the only signal axis first, e.g. "
            "signal.as_signal1D(spectral_axis=...) or signal.transpose(signal_axes=[...])."
        )
    data = signal.data
    if hasattr(data, "compute"):  # lazy signal
        data = data.compute()
    data = np.asarray(data)
    if data.dtype.kind not in "iuf":
        fix = {
            "c": "EEL intensities are real; convert it first, e.g. signal.real or "
            "abs(signal)",
            "b": "convert it first, e.g. signal.data = signal.data.astype(float) if "
            "the booleans really are 0/1 counts",
        }.get(data.dtype.kind, "store the intensities as numbers")
        raise ValueError(
            f"{where} has data of type {data.dtype}, not real intensities; {fix}."
        )
    axis = axes_manager.signal_axes[0]
    data = np.moveaxis(data, axis.index_in_array, -1)
    spectra, navigation_shape = _spectra_from_array(
        data,
        where,
        "The data",
        fix="interpolate or replace them in signal.data first",
    )
    units = getattr(axis, "units", None)
    if not isinstance(units, str):  # traits' Undefined: units never set
        units = None
    factor = _energy_factor(
        units,
        where,
        stacklevel=3,  # the caller of from_hyperspy
        fix="Convert the axis to eV, or set its units to 'eV' if its values are eV "
        "(signal.axes_manager.signal_axes[0].units = 'eV').",
    )
    energy = np.asarray(axis.axis, dtype=np.float64) * factor
    energy = check_energy_axis(energy, spectra.shape[1], name=f"The energy axis of {where}")
    quantities = _quantities_from_hyperspy_tree(
        None, getter=lambda path: signal.metadata.get_item(path, None)
    )
    return SpectraFile(
        spectra,
        energy,
        _make_metadata(
            source=title,
            fmt="hyperspy",
            navigation_shape=navigation_shape,
            original_metadata=signal.original_metadata.as_dictionary(),
            **quantities,
        ),
    )


def to_hyperspy(spectra, energy, metadata=None):
    """Make a HyperSpy signal from spectra, their energy axis and metadata.

    Parameters
    ----------
    spectra : array-like of shape (n_channels,), (n_spectra, n_channels) or \
            (..., n_channels)
        Intensities; reshaped to ``metadata["navigation_shape"]`` if given.
    energy : array-like of shape (n_channels,)
        Strictly increasing energy loss of every channel in eV. A uniform axis
        becomes an offset and scale, any other a non-uniform HyperSpy axis.
    metadata : dict, default=None
        As returned by :func:`read_spectra`: ``beam_energy`` (keV),
        ``exposure_time`` (s), ``collection_angle`` and ``convergence_angle``
        (mrad) go to HyperSpy's standard ``Acquisition_instrument.TEM`` paths,
        ``source`` to the title, ``original_metadata`` to
        ``signal.original_metadata``.

    Returns
    -------
    signal : hyperspy.signals.Signal1D
        A new signal (its data a copy) with the energy axis named "Energy loss" in
        eV; an ``EELSSpectrum`` (signal type "EELS") if eXSpy is installed.

    Raises
    ------
    ValueError
        If the inputs are invalid.

    See Also
    --------
    from_hyperspy : The reverse.
    write_spectra : Write the same content to a file.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.io import to_hyperspy
    >>> signal = to_hyperspy(np.ones((6, 5)), np.linspace(-1.0, 1.0, 5),
    ...                      {"navigation_shape": (2, 3), "beam_energy": 200.0})
    >>> signal.data.shape, float(signal.axes_manager.signal_axes[0].scale)
    ((2, 3, 5), 0.5)
    >>> signal.metadata.Acquisition_instrument.TEM.beam_energy
    200.0
    """
    hs = _import_hyperspy()
    data, _, energy, md = _prepare_output(spectra, energy, metadata)
    axes = _navigation_axis_dicts(data.shape[:-1]) + [_signal_axis_dict(energy)]
    signal = hs.signals.Signal1D(data, axes=axes)
    signal.metadata.General.title = str(md["source"])
    for key, path in _HYPERSPY_PATHS.items():
        if md[key] is not None:
            signal.metadata.set_item(path, md[key])
    if md["original_metadata"]:
        signal.original_metadata.add_dictionary(deepcopy(md["original_metadata"]))
    if importlib.util.find_spec("exspy") is not None:
        signal.set_signal_type("EELS")
    return signal
