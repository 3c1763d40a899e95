"""sklearn_zlp.report.write_report: the files, their numbers, and the page in a browser."""

import csv
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from _report_fixtures import hand_band_gap, tiny_fit

from sklearn_zlp.physics import fit_band_gap
from sklearn_zlp.report import write_report

SETTINGS = {"command": "sklearn-zlp subtract", "input": "ws2.txt", "replicas": 4}


@pytest.fixture(scope="module")
def fitted():
    return tiny_fit()


@pytest.fixture(scope="module")
def report(fitted, tmp_path_factory):
    subtractor, result, energy, names = fitted
    gap = fit_band_gap(energy, result, window=(1.0, 3.0), read_noise=subtractor.read_noise_)
    folder = tmp_path_factory.mktemp("report")
    before = {
        k: np.copy(getattr(result, k)) for k in ("spectra", "subtracted_median", "de1")
    }
    paths = write_report(
        folder,
        subtractor=subtractor,
        result=result,
        names=names,
        band_gap=gap,
        settings=SETTINGS,
        title="WS2 test report",
    )
    for key, value in before.items():  # nothing modified in place
        np.testing.assert_array_equal(getattr(result, key), value)
    return paths, gap


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_file_is_written(report):
    paths, _ = report
    kinds = {
        "html",
        "json",
        "npz",
        "readme",
        "csv:per_spectrum",
        "csv:replicas",
        "csv:subtracted",
        "csv:zlp",
        "png:zlp_fit",
        "png:subtracted",
        "png:band_gap",
        "png:regions",
        "png:training_curves",
        "png:quality",
    }
    assert set(paths) == kinds
    for kind, path in paths.items():
        assert path.is_file() and path.stat().st_size > 300, kind
        if kind.startswith("png:"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_spectrum_csv_equals_the_results(fitted, report):
    _, result, _, names = fitted
    paths, gap = report
    rows = _rows(paths["csv:per_spectrum"])
    assert [r["spectrum"] for r in rows] == names

    def column(name):
        return np.array([float(r[name]) for r in rows])

    # full precision: the very same floats, NaN where the result holds NaN
    np.testing.assert_array_equal(column("t_over_lambda"), result.t_over_lambda)
    np.testing.assert_array_equal(column("t_over_lambda_p16"), result.t_over_lambda_band[0])
    np.testing.assert_array_equal(column("t_over_lambda_p84"), result.t_over_lambda_band[1])
    np.testing.assert_array_equal(column("de1_eV"), result.de1)
    np.testing.assert_array_equal(column("e_bg_eV"), gap.e_bg_median)
    np.testing.assert_array_equal(column("e_bg_p16_eV"), gap.e_bg_band[0])
    np.testing.assert_array_equal(column("b"), gap.b_median)
    np.testing.assert_array_equal(column("p_indirect"), gap.p_indirect)
    np.testing.assert_array_equal(
        column("region_i_chi2"), result.diagnostics["region_i_chi2"]
    )
    assert [r["status"] for r in rows] == list(result.status)
    assert [r["e_bg_status"] for r in rows] == list(gap.status)
    # a fit that failed is NaN with its status, never a number
    failed = [r for r in rows if r["e_bg_status"] != "ok"]
    assert failed, "the 4-replica ensemble was expected to fail some band-gap fits"
    for r in failed:
        assert r["e_bg_eV"] == r["e_bg_p16_eV"] == r["e_bg_p84_eV"] == r["b"] == "nan"


def test_wide_tables_hold_the_spectra(fitted, report):
    _, result, energy, names = fitted
    paths, _ = report
    with open(paths["csv:subtracted"]) as fh:
        header = fh.readline().strip().split(",")
    assert header[:4] == [
        "energy_eV",
        f"{names[0]}_median_counts",
        f"{names[0]}_p16_counts",
        f"{names[0]}_p84_counts",
    ]
    table = np.loadtxt(paths["csv:subtracted"], delimiter=",", skiprows=1)
    np.testing.assert_array_equal(table[:, 0], energy)
    np.testing.assert_array_equal(table[:, 1::3].T, result.subtracted_median)
    np.testing.assert_array_equal(table[:, 3::3].T, result.subtracted_band[1])
    zlp = np.loadtxt(paths["csv:zlp"], delimiter=",", skiprows=1)
    np.testing.assert_array_equal(zlp[:, 1::4].T, result.spectra)
    np.testing.assert_array_equal(zlp[:, 2::4].T, result.zlp_median)
    replicas = _rows(paths["csv:replicas"])
    reg = fitted[0].regressor_
    assert [r["status"] for r in replicas] == list(reg.replica_status_)
    np.testing.assert_array_equal(
        [float(r["valid_chi2_per_point"]) for r in replicas], reg.replica_valid_chi2_
    )


def test_readme_describes_every_file_and_csv_column(report):
    paths, _ = report
    readme = paths["readme"].read_text()
    for kind, path in paths.items():
        assert path.name in readme, kind
        if kind.startswith("csv:"):
            with open(path) as fh:
                header = next(csv.reader(fh))
            for column in header:
                assert column in readme, (path.name, column)
    assert "<spectrum>_median_counts:" in readme
    assert "e_bg_p16_eV:" in readme and "t_over_lambda_status:" in readme


def test_settings_json_holds_settings_params_and_versions(report):
    paths, _ = report
    record = json.loads(paths["json"].read_text())
    assert record["settings"] == SETTINGS
    assert record["title"] == "WS2 test report"
    for package in ("sklearn_zlp", "numpy", "scipy", "sklearn", "torch", "skorch"):
        assert record["versions"][package], package
    params = record["subtractor"]["params"]
    assert params["regressor__n_replicas"] == 4 and params["random_state"] == 0
    # large arrays are summarised, not dumped
    assert params["energy_axis"]["shape"] == [1981] and params["energy_axis"]["array"]
    assert re.match(r"\d{4}-\d\d-\d\dT", record["created"])


def test_npz_holds_every_array(fitted, report):
    _, result, energy, names = fitted
    paths, gap = report
    with np.load(paths["npz"], allow_pickle=False) as saved:
        np.testing.assert_array_equal(saved["energy"], energy)
        np.testing.assert_array_equal(saved["subtracted_band"], result.subtracted_band)
        np.testing.assert_array_equal(saved["zlp_median"], result.zlp_median)
        np.testing.assert_array_equal(saved["subtracted_replicas"], result.subtracted)
        assert saved["status"].dtype.kind == "U"
        assert list(saved["status"]) == list(result.status)
        assert list(saved["names"]) == names
        np.testing.assert_array_equal(saved["band_gap_e_bg_median"], gap.e_bg_median)
        assert list(saved["band_gap_status"]) == list(gap.status)


def test_html_is_self_contained_with_numbers_and_images(fitted, report):
    _, result, _, names = fitted
    paths, _ = report
    page = paths["html"].read_text()
    n_png = sum(k.startswith("png:") for k in paths)
    assert page.count('src="data:image/png;base64,') == n_png
    assert "http" not in page  # no external link, script, style or font
    assert "<script" not in page and "<link" not in page
    assert '<table id="numbers">' in page
    for name in names:
        assert f'<td class="name">{name}</td>' in page
    assert f"{result.t_over_lambda[0]:.4f}" in page
    assert "sklearn-zlp subtract" in page  # the settings
    assert "&mdash;" in page  # failed values shown as a dash


def test_failed_values_are_nan_with_their_status(fitted, tmp_path):
    subtractor, result, _, names = fitted
    gap = hand_band_gap(len(names), failed=(2,), n_replicas=4)
    paths = write_report(tmp_path, subtractor=subtractor, result=result, band_gap=gap)
    rows = _rows(paths["csv:per_spectrum"])
    assert [r["spectrum"] for r in rows] == [f"spectrum_{i}" for i in range(len(names))]
    assert rows[2]["e_bg_status"] == "fit_failed"
    assert all(rows[2][k] == "nan" for k in ("e_bg_eV", "e_bg_p16_eV", "b", "p_indirect"))
    assert float(rows[0]["e_bg_eV"]) == gap.e_bg_median[0]
    page = paths["html"].read_text()
    assert "fit_failed" in page and "the least-squares fit did not return" in page


def test_bad_input_is_refused_with_the_fix(fitted, tmp_path):
    from sklearn_zlp import ZLPSubtractor

    subtractor, result, _, names = fitted
    with pytest.raises(ValueError, match="one name per spectrum"):
        write_report(tmp_path, subtractor=subtractor, result=result, names=names[:2])
    with pytest.raises(ValueError, match="unique"):
        write_report(tmp_path, subtractor=subtractor, result=result, names=["a"] * 6)
    with pytest.raises(ValueError, match="fit"):
        write_report(tmp_path, subtractor=ZLPSubtractor(), result=result)
    with pytest.raises(ValueError, match="same spectra"):
        write_report(
            tmp_path, subtractor=subtractor, result=result, band_gap=hand_band_gap(2)
        )
    with pytest.raises(TypeError, match="ZLPSubtractionResult"):
        write_report(tmp_path, subtractor=subtractor, result=np.zeros(3))
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(NotADirectoryError):
        write_report(a_file, subtractor=subtractor, result=result)
    assert not (tmp_path / "report.html").exists()


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run_chromium(browser, profile, *args):
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(fitted, report, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    import matplotlib.image

    _, result, _, names = fitted
    paths, _ = report
    url = paths["html"].resolve().as_uri()
    shot = tmp_path / "report_screenshot.png"
    _run_chromium(
        browser,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        url,
    )
    assert shot.stat().st_size > 50_000
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    # not a blank page: text, tables and figures give the page contrast
    assert pixels[..., :3].std() > 0.1
    # rows of the page's top third differ from each other (the table is rendered)
    assert np.unique(pixels[:700, :, :3].mean(axis=(1, 2))).size > 50
    dom = _run_chromium(browser, tmp_path / "profile2", "--dump-dom", url).stdout
    assert '<table id="numbers">' in dom
    for name in names:
        assert name in dom
    assert f"{result.t_over_lambda[0]:.4f}" in dom
    assert dom.count("data:image/png;base64,") == sum(k.startswith("png:") for k in paths)


def test_maps_of_an_image_go_into_the_report(fitted, tmp_path):
    from sklearn_zlp.maps import FIELDS, SpectralMaps

    subtractor, result, _, _ = fitted
    packed = np.full((2, 3, len(FIELDS)), np.nan)
    packed[..., FIELDS.index("t_over_lambda")] = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    for status in ("status", "t_over_lambda_status", "e_bg_status"):
        packed[..., FIELDS.index(status)] = 0  # "ok"
    packed[..., FIELDS.index("cluster")] = 0
    axes = [
        {"name": n, "size": s, "offset": 0.0, "scale": 2.0, "units": "nm"}
        for n, s in (("y", 2), ("x", 3))
    ]
    maps = SpectralMaps(packed, axes, 0.68)
    paths = write_report(tmp_path, subtractor=subtractor, result=result, maps=maps)
    assert paths["png:maps"].stat().st_size > 5_000
    with np.load(paths["npz"], allow_pickle=False) as saved:
        np.testing.assert_array_equal(saved["map_t_over_lambda"], maps.t_over_lambda)
        assert saved["map_e_bg_status"].dtype.kind == "U"
    record = json.loads(paths["json"].read_text())
    assert record["maps"]["navigation_shape"] == [2, 3]
    assert "maps.png" in paths["readme"].read_text()
    assert 'id="fig-maps"' in paths["html"].read_text()


def test_without_matplotlib_says_what_to_install_and_writes_nothing(
    fitted, tmp_path, monkeypatch
):
    import sys

    subtractor, result, _, _ = fitted
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with pytest.raises(ImportError, match=r"sklearn-zlp\[plot\]"):
        write_report(tmp_path / "out", subtractor=subtractor, result=result)
    assert not (tmp_path / "out").exists()
