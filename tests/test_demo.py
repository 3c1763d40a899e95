"""The demo that `make demo` runs, on the real WS2 data."""

import csv

import numpy as np

from sklearn_zlp.__main__ import main


def test_demo_writes_plot_and_tables(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    printed = capsys.readouterr().out
    assert str(out) in printed
    assert (out / "aligned_spectra.png").stat().st_size > 10_000
    with open(out / "zlp_summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["vacuum"] * 3 + ["specimen"] * 6
    raw = np.array([float(r["zlp_position_raw_eV"]) for r in rows])
    fwhm = np.array([float(r["fwhm_eV"]) for r in rows])
    np.testing.assert_allclose(raw, -0.05, atol=0.01)  # README: maximum near -0.05 eV
    assert np.all((fwhm > 0.4) & (fwhm < 0.5))
    table = np.loadtxt(out / "aligned_spectra.csv", delimiter=",", skiprows=1)
    assert table.shape == (1981, 10)
    assert np.count_nonzero(table[:, 0] == 0.0) == 1
    # The fitted ZLP vertex sits at 0 eV; the flat-topped real peaks have their
    # highest channel there or one channel (0.025 eV) beside it.
    offset = table[:, 1:].argmax(axis=0) - np.argmax(table[:, 0] == 0.0)
    assert np.all(np.abs(offset) <= 1)
