"""Imports of the optional dependencies, each with the command that installs it.

RosettaSciIO and HyperSpy are imported only when a format needs them, so
``import sklearn_zlp.io`` stays light.
"""

import importlib

_IO_HINT = 'pip install "sklearn-zlp[io]"'
_HYPERSPY_HINT = 'pip install "sklearn-zlp[hyperspy]"'


def _import_rsciio(plugin, fmt):
    """RosettaSciIO's ``plugin`` module, or an ImportError that says what to install."""
    try:
        importlib.import_module("rsciio")
    except ImportError as exc:
        raise ImportError(
            f"Reading and writing {fmt} files needs RosettaSciIO, which is not "
            f"installed; install it with: {_IO_HINT}"
        ) from exc
    try:
        return importlib.import_module(f"rsciio.{plugin}")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "a dependency"
        raise ImportError(
            f"RosettaSciIO's {plugin} plugin, needed for {fmt} files, cannot be "
            f"imported ({exc}); install the missing package, e.g. pip install {missing}."
        ) from exc


def _import_hyperspy():
    """``hyperspy.api``, or an ImportError that says what to install."""
    try:
        return importlib.import_module("hyperspy.api")
    except ImportError as exc:
        raise ImportError(
            f"This needs HyperSpy, which is not installed; install it with: "
            f"{_HYPERSPY_HINT}"
        ) from exc
