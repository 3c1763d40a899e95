"""Sphinx configuration for sklearn-zlp (``make docs``: warnings are errors).

The build needs no network: intersphinx links to Python, NumPy and
scikit-learn are made only when ``SKLEARN_ZLP_INTERSPHINX=1`` (it downloads
their inventories), so that CI, which reaches package registries only, builds
the same pages without them.
"""

import os

import matplotlib

import sklearn_zlp

matplotlib.use("Agg")  # the gallery's figures, without a display


def _quiet_third_party_imports():
    """Import HyperSpy and eXSpy once here, so the gallery pages do not show their noise.

    Third-party messages we cannot fix: HyperSpy logs "Numba is not installed" for
    every accelerated function at import, and eXSpy's lazy signal classes import
    HyperSpy names from a deprecated place (a VisibleDeprecationWarning). Both
    happen once per process; the gallery's examples then import them silently.
    """
    import importlib.util
    import logging
    import warnings

    if importlib.util.find_spec("hyperspy") is None:
        return
    # HyperSpy sets its own logger's level on import, so silence logging itself
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import hyperspy.api  # noqa: F401

            if importlib.util.find_spec("exspy") is not None:
                import exspy.signals  # noqa: F401
                from exspy.signals import LazyEELSSpectrum  # noqa: F401
    finally:
        logging.disable(logging.NOTSET)


_quiet_third_party_imports()

project = "sklearn-zlp"
author = "sklearn-zlp developers"
copyright = "2026, sklearn-zlp developers"
release = sklearn_zlp.__version__
version = release
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
if os.environ.get("SKLEARN_ZLP_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }
autosummary_generate = True
# scikit-learn adds set_*_request methods to every estimator (metadata routing);
# their docstrings link into scikit-learn's own glossary, which does not exist here
autodoc_default_options = {
    "members": True,
    "exclude-members": "set_fit_request, set_predict_request, set_score_request, "
    "set_transform_request, set_partial_fit_request, set_output",
}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # the examples print the numbers they are about; keep the figures small
    "matplotlib_animations": False,
}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "230px"}
smartquotes = False  # messages in docs/bad_inputs.rst appear exactly as printed
nitpicky = False
