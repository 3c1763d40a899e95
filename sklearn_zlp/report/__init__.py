"""The report of a subtraction: one HTML page, PNGs, CSV tables, npz and JSON.

:func:`write_report` writes a folder a person opens in a browser (no internet
needed) and a program reads (CSV columns named with their units, a README of
every column, every array in ``results.npz``, every setting and version in
``settings.json``). Needs matplotlib: ``pip install "sklearn-zlp[plot]"``.
"""

from ._write import write_report

__all__ = ["write_report"]
