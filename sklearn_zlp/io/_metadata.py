"""Acquisition metadata: the package's flat dict and HyperSpy's metadata tree.

Every reader reports the same four quantities in the same units (``beam_energy``
in keV, ``exposure_time`` in s, ``collection_angle`` and ``convergence_angle`` in
mrad). HyperSpy and RosettaSciIO keep them in a nested tree at standard paths, in
the same units; this module maps between the two.
"""

import re
import unicodedata
from collections.abc import Mapping

import numpy as np

_QUANTITIES = ("beam_energy", "exposure_time", "collection_angle", "convergence_angle")
# Where HyperSpy keeps them; units there: keV, s, mrad, mrad, as in this package.
_HYPERSPY_PATHS = {
    "beam_energy": "Acquisition_instrument.TEM.beam_energy",
    "exposure_time": "Acquisition_instrument.TEM.Detector.EELS.exposure",
    "collection_angle": "Acquisition_instrument.TEM.Detector.EELS.collection_angle",
    "convergence_angle": "Acquisition_instrument.TEM.convergence_angle",
}
_DWELL_TIME_PATH = "Acquisition_instrument.TEM.Detector.EELS.dwell_time"


def _make_metadata(
    *,
    source,
    fmt,
    navigation_shape,
    original_metadata=None,
    beam_energy=None,
    exposure_time=None,
    collection_angle=None,
    convergence_angle=None,
):
    """The metadata dict of a :class:`SpectraFile`, with every key present."""
    return {
        "beam_energy": beam_energy,
        "exposure_time": exposure_time,
        "collection_angle": collection_angle,
        "convergence_angle": convergence_angle,
        "navigation_shape": tuple(int(n) for n in navigation_shape),
        "source": source,
        "format": fmt,
        "original_metadata": dict(original_metadata or {}),
    }


def _to_float_or_none(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _slugify(key):
    # HyperSpy's slugify: how its metadata browser names keys, which RosettaSciIO's
    # metadata mappings assume.
    value = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode()
    value = re.sub(r"[^0-9A-Za-z_ ]", "", value).strip().replace(" ", "_")
    return value if value.isidentifier() else "Number_" + value


def _slugified(tree):
    if isinstance(tree, Mapping):
        return {_slugify(key): _slugified(value) for key, value in tree.items()}
    return tree


def _get_path(tree, path, slug=False):
    node = tree
    for key in path.split("."):
        key = _slugify(key) if slug else key
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _set_path(tree, path, value):
    *parents, last = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return
    node[last] = value


def _apply_mapping(metadata, original, mapping):
    """Copy original tags to standard metadata paths, as HyperSpy does on loading."""
    tree = _slugified(original)
    for source_path, (target_path, function) in mapping.items():
        value = _get_path(tree, source_path, slug=True)
        if value is None:
            continue
        if function is not None:
            try:
                value = function(value)
            except Exception:  # a tag the reader itself cannot parse: skip it
                continue
        if value is not None:
            _set_path(metadata, target_path, value)


def _quantities_from_hyperspy_tree(tree, getter=None):
    """The four quantities from a HyperSpy metadata tree (or a path getter)."""
    getter = getter or (lambda path: _get_path(tree, path))
    quantities = {
        name: _to_float_or_none(getter(path)) for name, path in _HYPERSPY_PATHS.items()
    }
    if quantities["exposure_time"] is None:
        quantities["exposure_time"] = _to_float_or_none(getter(_DWELL_TIME_PATH))
    return quantities


def _hyperspy_metadata(md, exposure_factor=1.0):
    """A HyperSpy metadata tree holding the quantities of ``md``."""
    tree = {"General": {"title": ""}, "Signal": {"signal_type": "EELS"}}
    for key, path in _HYPERSPY_PATHS.items():
        if md[key] is not None:
            factor = exposure_factor if key == "exposure_time" else 1.0
            _set_path(tree, path, md[key] * factor)
    return tree
