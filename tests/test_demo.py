"""The demo that `make demo` runs, on the real WS2 data."""

import csv

import numpy as np
import pytest

from sklearn_zlp.__main__ import main
from sklearn_zlp._status import describe_status


def test_demo_writes_plot_and_tables(tmp_path, capsys):
    # a small ensemble: the full one (100 x 3000) is what `make demo` runs
    argv = ["demo", "--output", str(tmp_path / "out"), "--replicas", "6", "--epochs", "300"]
    assert main(argv) == 0
    out = tmp_path / "out"
    printed = capsys.readouterr().out
    assert str(out) in printed
    # the fit's quality figures, with the held-out residuals' percentiles
    assert "held-out standardised residuals: 16/50/84%" in printed
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
    # the subtraction job: plots, region table, subtracted spectra with bands
    for name in ("zlp_fit.png", "subtracted_spectra.png", "band_gap.png"):
        assert (out / name).stat().st_size > 20_000
    # the report of sklearn_zlp.report (its own tests: tests/test_report.py)
    assert "data:image/png;base64," in (out / "report" / "report.html").read_text()
    with open(out / "regions.csv") as fh:
        regions = list(csv.DictReader(fh))
    assert [r["spectrum"] for r in regions] == [
        f"sample_{i}" for i in (14, 15, 16, 19, 20, 21)
    ]
    de1 = np.array([float(r["dE_I_eV"]) for r in regions])
    de2 = np.array([float(r["dE_II_eV"]) for r in regions])
    assert np.all((de1 > 1.5) & (de1 < 2.1)) and np.all(de2 > de1)
    assert all(1 <= int(r["replicas_kept"]) <= 6 for r in regions)
    subtracted = np.loadtxt(out / "subtracted_spectra.csv", delimiter=",", skiprows=1)
    assert subtracted.shape == (1981, 1 + 3 * 6)
    median, p16, p84 = subtracted[:, 1], subtracted[:, 2], subtracted[:, 3]
    assert np.all(p16 <= median + 1e-6) and np.all(median <= p84 + 1e-6)
    # the physics table: band gap and t/lambda per spectrum with 68% intervals
    with open(out / "physics.csv") as fh:
        physics = list(csv.DictReader(fh))
    assert len(physics) == 6
    for row in physics:
        low, mid, high = (float(row[k]) for k in ("E_bg_p16_eV", "E_bg_eV", "E_bg_p84_eV"))
        # a tiny ensemble: a spectrum may fail, then NaN with a registered reason
        assert describe_status(row["status"])
        if row["status"] == "ok":
            assert 1.0 <= low <= mid <= high <= 3.0  # inside the fit window
            assert 0 <= float(row["p_indirect"]) <= 1
        else:
            assert np.isnan([low, mid, high]).all()
        assert 0 <= float(row["replicas_ok"]) <= 1
        t = [
            float(row[k])
            for k in ("t_over_lambda_p16", "t_over_lambda", "t_over_lambda_p84")
        ]
        assert 0 < t[0] <= t[1] <= t[2] < 1  # thin WS2 flakes
        # WS2 sits on a floor of 260-380 counts per channel (tests/test_floor.py):
        # t/lambda says so when that outweighs its band
        assert describe_status(row["t_over_lambda_status"])
        assert 0.005 < float(row["floor_t_over_lambda"]) < 0.02
        assert 0 <= float(row["fraction_indirect"]) <= 1


def test_readme_snippets_run(monkeypatch, tmp_path):
    # The README's code blocks, run as written in one namespace; only the default
    # ensemble (100 replicas x 3000 epochs) is made small, for speed. The quick
    # start reads the WS2 spectra as files.
    import re
    from pathlib import Path

    from sklearn_zlp import ZLPEnsembleRegressor
    from sklearn_zlp.datasets import load_ws2
    from sklearn_zlp.io import write_spectra
    from sklearn_zlp.subtraction import _subtractor

    ws2 = load_ws2()
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    monkeypatch.chdir(tmp_path)
    write_spectra("spectra.hspy", ws2.sample, ws2.energy)
    write_spectra("vacuum.hspy", ws2.vacuum, ws2.energy)

    def small(random_state=None, n_jobs=None):
        return ZLPEnsembleRegressor(
            n_replicas=4, max_epochs=100, lr=0.1, n_jobs=n_jobs, random_state=random_state
        )

    monkeypatch.setattr(_subtractor, "default_regressor", small)
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.subtracted_median.shape == (6, 1981)
    assert result.subtracted_band.shape == (2, 6, 1981)
    assert namespace["gap"].e_bg_median.shape == (namespace["batch"].spectra.shape[0],)
    n_batch = namespace["batch"].spectra.shape[0]
    assert namespace["gap"].e_bg_band.shape == (2, n_batch)
    assert namespace["median"].shape == (n_batch,)
    assert namespace["band"].shape == (2, n_batch)


def _readme_block(heading):
    """The first ```python block after ``heading`` in the README."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    after = text[text.index(heading) :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


@pytest.mark.slow
def test_readme_quick_start_from_files_runs_as_written(tmp_path, monkeypatch):
    """The README's quick start, verbatim (default ensemble), on the WS2 spectra
    written as the .hspy files it reads; E_bg as published where the fit is ok."""
    from sklearn_zlp.datasets import load_ws2
    from sklearn_zlp.io import write_spectra

    ws2 = load_ws2()
    monkeypatch.chdir(tmp_path)
    write_spectra("spectra.hspy", ws2.sample, ws2.energy)
    write_spectra("vacuum.hspy", ws2.vacuum, ws2.energy)
    scope = {}
    exec(compile(_readme_block("## From your files"), "README.md", "exec"), scope)
    gap = scope["gap"]
    ok = gap.status == "ok"
    assert ok.sum() >= 3, gap.status
    assert np.all((gap.e_bg_median[ok] > 1.3) & (gap.e_bg_median[ok] < 1.9))
    assert np.all(np.isnan(gap.e_bg_median[~ok]))
    assert (tmp_path / "report" / "report.html").exists()
    from sklearn_zlp import load_model

    loaded = load_model("ws2.zlp")
    X = scope["X"]
    np.testing.assert_array_equal(loaded.transform(X), scope["sub"].transform(X))
