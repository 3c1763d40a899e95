"""settings.json: every setting of the job, the estimator's parameters and versions."""

import datetime
import hashlib
import importlib.metadata
import json
import math
import os
import platform

import numpy as np

__all__ = ["json_safe", "settings_record", "versions"]

# arrays up to this many elements are written out; larger ones are summarised
_MAX_LISTED = 64

_PACKAGES = {
    "sklearn_zlp": "sklearn-zlp",
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "skorch": "skorch",
    "matplotlib": "matplotlib",
}


def versions():
    """Versions of Python, sklearn-zlp and the packages its numbers depend on.

    Read from the installed distributions' metadata, so nothing is imported
    (torch stays unloaded when the report does not need it); a package that is
    not installed is ``None``.
    """
    from .. import __version__

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for key, dist in _PACKAGES.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    # the running source, not whatever sklearn-zlp distribution is installed
    out["sklearn_zlp"] = __version__
    return out


def json_safe(value):
    """``value`` as JSON-serialisable data, losing nothing a reader needs.

    NaN and infinities become None (JSON has no NaN; "NaN" in a table is its
    status's business), arrays of up to 64 elements become lists and larger
    ones a summary (shape, dtype, min, max, SHA-256 of the bytes), estimators
    their class name (their parameters are listed separately), paths strings.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size <= _MAX_LISTED or value.dtype.kind in "USO":
            return json_safe(value.tolist())
        finite = value[np.isfinite(value)] if value.dtype.kind in "fc" else value
        return {
            "array": True,
            "shape": list(value.shape),
            "dtype": str(value.dtype),
            "min": json_safe(finite.min()) if finite.size else None,
            "max": json_safe(finite.max()) if finite.size else None,
            "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
        }
    if hasattr(value, "get_params"):
        return f"{type(value).__module__}.{type(value).__qualname__}"
    return repr(value)


def settings_record(*, title, settings, subtractor, result, band_gap, maps):
    """The content of settings.json (a dict that ``json.dumps`` accepts)."""
    regressor = subtractor.regressor_
    record = {
        "title": title,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(  # noqa: UP017 (3.10)
            timespec="seconds"
        ),
        "settings": json_safe(settings or {}),
        "versions": versions(),
        "subtractor": {
            "class": json_safe(subtractor),
            "params": json_safe(subtractor.get_params(deep=True)),
            "read_noise_counts": json_safe(subtractor.read_noise_),
            "n_replicas_kept": int(regressor.n_replicas_),
            "n_replicas_rejected": int(regressor.n_rejected_),
            "replica_status": json_safe(np.asarray(regressor.replica_status_, dtype=str)),
        },
        "result": {
            "n_spectra": int(result.spectra.shape[0]),
            "n_channels": int(result.spectra.shape[1]),
            "n_replicas": int(result.n_replicas),
            "confidence_level": float(result.confidence_level),
            "replicas_kept": bool(result.replicas_kept),
        },
        "band_gap": None,
        "maps": None,
    }
    if band_gap is not None:
        record["band_gap"] = {
            "b_fixed": json_safe(band_gap.b_fixed),
            "background": band_gap.background,
            "min_replica_fraction": float(band_gap.min_replica_fraction),
            "n_replicas": int(np.shape(band_gap.e_bg)[0]),
        }
    if maps is not None:
        record["maps"] = {
            "navigation_shape": list(maps.navigation_shape),
            "navigation_axes": json_safe(maps.navigation_axes),
            "confidence_level": float(maps.confidence_level),
        }
    json.dumps(record, allow_nan=False)  # fails here, not half-way through the file
    return record
