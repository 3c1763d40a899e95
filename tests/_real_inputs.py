"""Every form of real numbers the package accepts, and the dtypes it refuses.

Shared by the dtype tests of the preprocessing, physics and datasets modules:
each converts its inputs with one of ``REAL_FORMS`` and compares the result
with the one for :func:`reference`, the float64 array of the same values.
"""

import numpy as np
import pandas as pd


def _pandas(values):
    values = np.asarray(values)
    if values.ndim == 1:
        return pd.Series(values)
    if values.ndim == 2:
        return pd.DataFrame(values)
    return values  # pandas has no container for replica cubes


REAL_FORMS = {
    "float32": lambda values: np.asarray(values, dtype=np.float32),
    "int64": lambda values: np.rint(values).astype(np.int64),
    "list": lambda values: np.asarray(values).tolist(),
    "pandas": _pandas,
}

# Energy axes are not integer-valued (0.025 eV channels): the int64 form keeps
# them as they are; the tests of integer axes use axes of whole numbers.
AXIS_FORMS = {**REAL_FORMS, "int64": lambda values: values}

REFUSED_FORMS = {
    "complex": (lambda values: np.asarray(values) + 1j, "Complex data not supported"),
    "bool": (lambda values: np.asarray(values) > np.median(values), "boolean"),
}


def reference(values):
    """The float64 array of the values of one of the forms above."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    return np.asarray(values, dtype=np.float64)
