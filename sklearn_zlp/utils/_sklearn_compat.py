"""The only module that imports private scikit-learn API.

Parameter-validation helpers are private in scikit-learn (1.6 to 1.9); keeping
the import here means a scikit-learn release that moves them breaks one file.
"""

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

__all__ = ["HasMethods", "Interval", "StrOptions"]
