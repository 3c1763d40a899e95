"""Sphinx configuration for sklearn-zlp (``make docs``)."""

import sklearn_zlp

project = "sklearn-zlp"
author = "sklearn-zlp developers"
copyright = "2026, sklearn-zlp developers"
release = sklearn_zlp.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
}
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
exclude_patterns = ["_build"]
html_theme = "alabaster"
smartquotes = False  # messages in docs/bad_inputs.rst appear exactly as printed
