"""Statuses: how every estimate that can fail says so in the data it returns.

An estimate that cannot be trusted is NaN, and next to it (same shape) stands a
status string saying why: ``"ok"`` or one of the registered reasons. Each area of
the package registers its own reasons with :func:`register_status` (next to the
code that detects them), so that :func:`describe_status` can explain any status
to a person and the docs can list them all.
"""

import numpy as np

__all__ = ["OK", "describe_status", "register_status", "status_array", "statuses"]

OK = "ok"
_MEANINGS = {OK: "the estimate passed every check."}


def register_status(name, meaning):
    """Register a status ``name`` (snake_case) with a one-sentence ``meaning``.

    Registering the same name twice with the same meaning is allowed (modules may be
    re-imported); a different meaning is a programming error.
    """
    if _MEANINGS.get(name, meaning) != meaning:
        raise ValueError(f"status {name!r} is already registered with another meaning.")
    _MEANINGS[name] = meaning
    return name


# Statuses are registered where they are detected, on import; these subpackages
# hold every one of them.
_REGISTERING = ("preprocessing", "physics", "subtraction", "maps")


def _register_all():
    import importlib

    for name in _REGISTERING:
        importlib.import_module(f"sklearn_zlp.{name}")


def describe_status(name):
    """What a status in a returned result means, for a person.

    Parameters
    ----------
    name : str
        A status, e.g. ``"at_bound"`` or ``"region_i_too_short"``.

    Returns
    -------
    meaning : str

    Examples
    --------
    >>> from sklearn_zlp import describe_status
    >>> describe_status("ok")
    'the estimate passed every check.'
    """
    if name not in _MEANINGS:
        _register_all()
    try:
        return _MEANINGS[name]
    except KeyError:
        raise ValueError(
            f"unknown status {name!r}; known statuses: {sorted(_MEANINGS)}."
        ) from None


def statuses():
    """Every status the package can return, with its meaning (a new dict)."""
    _register_all()
    return dict(_MEANINGS)


def status_array(shape, fill=OK):
    """An object array of statuses, all ``fill``."""
    out = np.empty(shape, dtype=object)
    out[...] = fill
    return out
