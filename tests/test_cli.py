"""The sklearn-zlp command line, end to end: real files in, report and numbers out.

Each scenario runs the command once (module-scoped fixtures, tiny ensembles) and
the same job once through the Python API with the same seed; the numbers the
command prints and writes must equal the API's.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_zlp import ZeroLossAligner, ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.cli import main
from sklearn_zlp.datasets import load_ws2, make_synthetic_eels
from sklearn_zlp.io import read_spectra, write_spectra
from sklearn_zlp.physics import fit_band_gap

pytest.importorskip("rsciio")

WS2 = Path(__file__).parents[1] / "sklearn_zlp" / "datasets" / "data" / "ws2_specimen4"
# The bundled WS2 files hold counts alone: their axis from the data's README.
WS2_AXIS = ("-4.0415", "0.025")
TINY = ["--replicas", "6", "--epochs", "1000", "--jobs", "1", "--seed", "3"]


def _api_subtractor(energy, vacuum=None, training="spectra", seed=3, **regions):
    """The subtractor the command fits, built here from the public API."""
    regressor = ZLPEnsembleRegressor(
        n_replicas=6,
        max_epochs=1000,
        lr=0.1,
        reject_outliers=3.0,
        n_jobs=1,
        random_state=seed,
    )
    per = "cluster" if training == "clusters" else "all"
    return ZLPSubtractor(
        energy,
        regressor=regressor,
        regions=ZLPRegionMask(vacuum=vacuum, per=per, **regions),
        training=training,
        random_state=seed,
    )


def _api_job(specimen, vacuum=None, energy=None, training="spectra", **regions):
    """Read, align, fit as the command does: (subtractor, aligned specimen spectra)."""
    reads = [read_spectra(p, energy=energy) for p in specimen]
    X = np.vstack([r.spectra for r in reads])
    V = np.vstack([read_spectra(p, energy=energy).spectra for p in vacuum or []] or [X[:0]])
    # aligned together, as the demo does (rows agree with separate calls to ~1e-6)
    both = ZeroLossAligner(energy_axis=reads[0].energy).fit(np.vstack([X, V]))
    stacked = both.transform(np.vstack([X, V]))
    aligned, vac = stacked[: len(X)], (stacked[len(X) :] if len(V) else None)
    aligner = both
    sub = _api_subtractor(aligner.energy_axis_, vac, training, **regions).fit(aligned)
    return sub, aligned


def _run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _results(folder):
    with open(folder / "per_spectrum.csv") as fh:
        return list(csv.DictReader(fh))


def _column(rows, key):
    return np.array([float(r[key]) for r in rows])


# -- help and imports ----------------------------------------------------------


def test_help_imports_no_heavy_module():
    """--help builds every parser without numpy's dependants, torch or plotting."""
    code = (
        "import contextlib, io, json, sys\n"
        "from sklearn_zlp.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    codes = [main(['--help']), main(['subtract', '--help']),\n"
        "             main(['bandgap', '--help']), main(['info', '--help'])]\n"
        "print(json.dumps({'codes': codes, 'modules': sorted(sys.modules),\n"
        "                  'help': out.getvalue()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    assert report["codes"] == [0, 0, 0, 0]
    modules = set(report["modules"])
    for heavy in ("torch", "skorch", "matplotlib", "hyperspy", "sklearn", "numpy", "scipy"):
        assert heavy not in modules, heavy
    # measured: 74 (bare python: 33; argparse and its imports, the cli's 3 modules)
    assert len(modules) < 100, len(modules)
    assert "--vacuum" in report["help"] and "--energy-unit" in report["help"]


def test_installed_script_and_module_run():
    script = shutil.which("sklearn-zlp", path=os.path.dirname(sys.executable))
    assert script is not None, "pip install -e . installs the sklearn-zlp script"
    done = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "subtract" in done.stdout and "bandgap" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "sklearn_zlp", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("sklearn-zlp ")


# -- info ----------------------------------------------------------------------


def test_info_on_bundled_files_without_torch():
    code = (
        "import sys\nfrom sklearn_zlp.cli import main\n"
        f"status = main(['info', {str(WS2 / 'sample_14.txt')!r}, '--energy', *{WS2_AXIS!r}])\n"
        "print('torch loaded' if 'torch' in sys.modules else 'no torch', status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("no torch 0")
    assert "1981 channels, -4.0415 to 45.4585 eV, 0.025 eV/channel" in done.stdout
    # the raw WS2 maximum sits near -0.05 eV (data README), width 0.4-0.5 eV
    line = next(x for x in done.stdout.splitlines() if "ZLP at" in x)
    position = float(line.split("ZLP at ")[1].split()[0])
    width = float(line.split("FWHM ")[1].split()[0])
    assert -0.06 < position < -0.03 and 0.4 < width < 0.5
    assert "aligned: no" in done.stdout


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory):
    """Specimen and vacuum spectra in .msa, text, .hspy line scan and image."""
    folder = tmp_path_factory.mktemp("files")
    data = make_synthetic_eels(4, n_vacuum=2, shift_std=0.02, random_state=1)
    md = {"beam_energy": 200.0, "exposure_time": 0.01}
    files = {"energy": data.energy, "data": data}
    files["msa"] = [
        write_spectra(folder / f"spec{i}.msa", s, data.energy, md)
        for i, s in enumerate(data.spectra[:3])
    ]
    files["vacuum_msa"] = [
        write_spectra(folder / f"vac{i}.msa", s, data.energy, md)
        for i, s in enumerate(data.vacuum)
    ]
    files["text"] = write_spectra(folder / "four.txt", data.spectra, data.energy, md)
    files["line"] = write_spectra(folder / "line.hspy", data.spectra, data.energy, md)
    image = make_synthetic_eels(
        image_shape=(3, 4), t_over_lambda=(0.3, 0.9), random_state=2
    )
    files["image"] = write_spectra(folder / "image.hspy", image.spectra, image.energy, md)
    files["image_data"] = image
    return files


def test_info_describes_msa_and_image(synthetic_files, capsys):
    status, out, err = _run(
        ["info", str(synthetic_files["msa"][0]), str(synthetic_files["image"])], capsys
    )
    assert status == 0 and err == ""
    assert "beam_energy 200 keV" in out and "exposure_time 0.01 s" in out
    assert "spectrum image, 3 x 4 pixels (12 spectra)" in out
    assert "ZLP FWHM (eV): median 0.3" in out  # make_synthetic_eels' default width


# -- errors --------------------------------------------------------------------


def _one_line_error(status, err, *fragments):
    assert status == 2
    # progress messages may come first; the error is one line, the last
    lines = err.strip().splitlines()
    assert sum("error" in line for line in lines) == 1, err
    assert lines[-1].startswith("sklearn-zlp: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def test_missing_file_is_one_line(tmp_path, capsys):
    status, out, err = _run(
        ["subtract", str(tmp_path / "nothere.msa"), "--out", str(tmp_path / "o")], capsys
    )
    _one_line_error(status, err, "No such file", "nothere.msa")


def test_kev_axis_without_unit_names_the_option(tmp_path, capsys):
    data = make_synthetic_eels(1, random_state=0)
    path = tmp_path / "kev.txt"
    np.savetxt(path, np.column_stack([data.energy / 1000, data.spectra[0]]))
    status, _, err = _run(["info", str(path)], capsys)
    _one_line_error(status, err, "looks like keV", "--energy-unit keV")
    status, out, _ = _run(["info", str(path), "--energy-unit", "keV"], capsys)
    assert status == 0 and "0.025 eV/channel" in out


def test_mismatched_axes_name_both_files(synthetic_files, tmp_path, capsys):
    data = make_synthetic_eels(1, energy=np.linspace(-2, 10, 601), random_state=0)
    other = write_spectra(tmp_path / "other.csv", data.spectra, data.energy)
    argv = ["subtract", str(synthetic_files["msa"][0]), str(other), "--out", str(tmp_path)]
    status, _, err = _run(argv, capsys)
    _one_line_error(status, err, "do not share one energy axis", "spec0.msa", "other.csv")


def test_image_as_vacuum_is_refused(synthetic_files, tmp_path, capsys):
    argv = ["thickness", str(synthetic_files["msa"][0]), "--vacuum"]
    argv += [str(synthetic_files["image"]), "--out", str(tmp_path)]
    status, _, err = _run(argv, capsys)
    _one_line_error(status, err, "3 x 4 spectrum image", "--vacuum")


def test_spectrum_without_zlp_is_named(synthetic_files, tmp_path, capsys):
    energy = synthetic_files["energy"]
    ramp = write_spectra(tmp_path / "ramp.csv", 100 + 10 * (energy - energy[0]), energy)
    argv = ["subtract", str(synthetic_files["msa"][0]), str(ramp), "--out", str(tmp_path)]
    status, _, err = _run(argv, capsys)
    _one_line_error(status, err, "ramp.csv:", "no zero-loss peak", "--zlp-search")


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--replicas", "0"], "--replicas: '0' must be 1 or more"),
        (["--epochs", "many"], "is not a whole number"),
        (["--de1", "-1"], "must be a positive energy"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--jobs", "0"], "0 jobs"),
        (["--energy-unit", "keV"], "--energy-unit applies to text files"),
    ],
)
def test_bad_options_are_one_line(synthetic_files, tmp_path, capsys, options, fragment):
    argv = ["subtract", str(synthetic_files["msa"][0]), "--out", str(tmp_path), *options]
    status, _, err = _run(argv, capsys)
    _one_line_error(status, err, fragment)


def test_bad_band_gap_options_and_out_file(synthetic_files, tmp_path, capsys):
    spec = str(synthetic_files["msa"][0])
    status, _, err = _run(["bandgap", spec, "--out", str(tmp_path), "--b", "steep"], capsys)
    _one_line_error(status, err, "'steep' is not 'free'")
    status, _, err = _run(
        ["bandgap", spec, "--out", str(tmp_path), "--window", "1"], capsys
    )
    _one_line_error(status, err, "--window")
    afile = tmp_path / "afile"
    afile.write_text("")
    status, _, err = _run(["subtract", spec, "--out", str(afile)], capsys)
    _one_line_error(status, err, "is a file")


def test_interrupt_and_internal_error(synthetic_files, tmp_path, capsys, monkeypatch):
    from sklearn_zlp.cli import _job

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_job, "read_inputs", interrupted)
    argv = ["subtract", str(synthetic_files["msa"][0]), "--out", str(tmp_path)]
    status, _, err = _run(argv, capsys)
    assert status == 130 and err.count("\n") == 1 and "interrupted" in err

    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(_job, "read_inputs", broken)
    status, _, err = _run(argv, capsys)
    assert status == 1 and err.count("\n") == 1 and "--debug" in err
    assert "a bug over two lines" in err
    with pytest.raises(RuntimeError, match="a bug"):
        main([*argv, "--debug"])


def test_error_in_a_real_process_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sklearn_zlp", "bandgap", str(tmp_path / "x.dm4")]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "x.dm4" in done.stderr


# -- jobs end to end -----------------------------------------------------------


@pytest.fixture(scope="module")
def ws2_bandgap(tmp_path_factory):
    """``bandgap`` on the bundled WS2 files, and the same job through the API."""
    out = tmp_path_factory.mktemp("ws2")
    specimen = [str(WS2 / f"sample_{i}.txt") for i in (14, 15, 16, 19, 20, 21)]
    vacuum = [str(WS2 / f"vacuum_{i}.txt") for i in (17, 22, 23)]
    argv = ["bandgap", *specimen, "--vacuum", *vacuum, "--energy", *WS2_AXIS]
    argv += ["--out", str(out), "--window", "1", "3", "--progress", "lines", *TINY]
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    axis = (float(WS2_AXIS[0]), float(WS2_AXIS[1]))
    sub, aligned = _api_job(specimen, vacuum, energy=axis)
    gap = fit_band_gap(
        sub.energy_axis_,
        sub.subtract(aligned, keep_replicas=True),
        window=(1.0, 3.0),
        read_noise=sub.read_noise_,
    )
    return status, stdout.getvalue(), stderr.getvalue(), out, sub, aligned, gap


def test_ws2_bandgap_equals_the_api(ws2_bandgap):
    status, out, err, folder, sub, aligned, gap = ws2_bandgap
    assert status == 0
    # the files with --energy are the data load_ws2 returns, on its axis
    ws2 = load_ws2()
    read = read_spectra(WS2 / "sample_14.txt", energy=(-4.0415, 0.025))
    np.testing.assert_array_equal(read.spectra[0], ws2.sample[0])
    np.testing.assert_allclose(read.energy, ws2.energy, atol=1e-12)
    rows = _results(folder)
    assert [r["spectrum"] for r in rows] == [
        f"sample_{i}.txt" for i in (14, 15, 16, 19, 20, 21)
    ]
    np.testing.assert_array_equal(_column(rows, "e_bg_eV"), gap.e_bg_median)
    np.testing.assert_array_equal(_column(rows, "e_bg_p16_eV"), gap.e_bg_band[0])
    np.testing.assert_array_equal(_column(rows, "e_bg_p84_eV"), gap.e_bg_band[1])
    assert [r["e_bg_status"] for r in rows] == list(gap.status)
    result = sub.subtract(aligned)
    np.testing.assert_array_equal(_column(rows, "t_over_lambda"), result.t_over_lambda)
    np.testing.assert_array_equal(_column(rows, "de1_eV"), result.de1)
    # the printed table: E_bg median [16%, 84%] and status per spectrum
    for i, row in enumerate(rows):
        line = next(x for x in out.splitlines() if x.startswith(row["spectrum"]))
        assert line.endswith(str(gap.status[i]))
        if gap.status[i] == "ok":
            lo, hi = gap.e_bg_band[:, i]
            assert f"{gap.e_bg_median[i]:.3f} [{lo:.3f}, {hi:.3f}]" in line
    # WS2's published gap is 1.6 (+0.3/-0.2) eV; where a tiny ensemble's fit is
    # ok (2 of 6 spectra measured with 6 replicas x 1000 epochs) it lands near it
    ok = gap.status == "ok"
    assert ok.sum() >= 1 and np.all(np.abs(gap.e_bg_median[ok] - 1.6) < 0.5)


def test_ws2_bandgap_report_and_progress(ws2_bandgap):
    status, out, err, folder, sub, aligned, gap = ws2_bandgap
    for name in ("report.html", "per_spectrum.csv", "settings.json", "results.npz"):
        assert (folder / name).stat().st_size > 0, name
    settings = json.loads((folder / "settings.json").read_text())
    assert "bandgap" in json.dumps(settings) and "vacuum_17.txt" in json.dumps(settings)
    subtracted = read_spectra(folder / "subtracted_spectra.csv")
    np.testing.assert_allclose(subtracted.energy, sub.energy_axis_, atol=1e-12)
    np.testing.assert_array_equal(
        subtracted.spectra, np.nan_to_num(sub.subtract(aligned).subtracted_median)
    )
    # one display in lines mode: no carriage returns, a line per stage's end
    assert "\r" not in err and "training" in err and "band gaps" in err
    assert "Traceback" not in err and "error" not in err


@pytest.fixture(scope="module")
def msa_thickness(synthetic_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("msa")
    specimen = [str(p) for p in synthetic_files["msa"]]
    vacuum = [str(p) for p in synthetic_files["vacuum_msa"]]
    argv = ["thickness", *specimen, "--vacuum", *vacuum, "--out", str(out), "-q", *TINY]
    status = main(argv)
    sub, aligned = _api_job(specimen, vacuum)
    return status, out, sub.subtract(aligned)


def test_msa_thickness_equals_the_api(msa_thickness, synthetic_files, capsys):
    status, folder, result = msa_thickness
    assert status == 0
    assert capsys.readouterr().out == ""  # -q: nothing on stdout
    rows = _results(folder)
    assert [r["spectrum"] for r in rows] == ["spec0.msa", "spec1.msa", "spec2.msa"]
    np.testing.assert_array_equal(_column(rows, "t_over_lambda"), result.t_over_lambda)
    np.testing.assert_array_equal(
        _column(rows, "t_over_lambda_p16"), result.t_over_lambda_band[0]
    )
    assert [r["t_over_lambda_status"] for r in rows] == list(result.t_over_lambda_status)
    # the truth: make_synthetic_eels' default t/lambda is 0.5
    np.testing.assert_allclose(result.t_over_lambda, 0.5, atol=0.05)
    # .msa holds one spectrum: the subtracted spectra go to .npz
    assert read_spectra(folder / "subtracted_spectra.npz").spectra.shape == (3, 2001)


def test_text_and_line_scan_subtract(synthetic_files, tmp_path, capsys):
    text = str(synthetic_files["text"])
    # without vacuum spectra the automatic dE_I finds no onset on these: set it
    argv = ["subtract", text, "--out", str(tmp_path / "t"), "--de1", "1.0", *TINY]
    status, out, _ = _run(argv, capsys)
    assert status == 0
    sub, aligned = _api_job([text], de1=1.0)
    median = sub.subtract(aligned).subtracted_median
    written = read_spectra(tmp_path / "t" / "subtracted_spectra.csv")
    np.testing.assert_array_equal(written.spectra, median)
    assert [r["spectrum"] for r in _results(tmp_path / "t")] == [
        f"four.txt[{i}]" for i in range(4)
    ]
    assert "four.txt[3]" in out
    # the same spectra as a HyperSpy line scan: same numbers, a line scan out
    line = str(synthetic_files["line"])
    argv = ["subtract", line, "--out", str(tmp_path / "h"), "--de1", "1.0", *TINY]
    status, _, _ = _run([*argv, "--keep-replicas"], capsys)
    assert status == 0
    written = read_spectra(tmp_path / "h" / "subtracted_spectra.hspy")
    assert written.metadata["navigation_shape"] == (4,)
    assert written.metadata["beam_energy"] == 200.0
    np.testing.assert_array_equal(written.spectra, median)
    # --keep-replicas: every replica in results.npz, the medians theirs
    from sklearn_zlp._replicas import replica_median

    saved = np.load(tmp_path / "h" / "results.npz")
    replicas = saved["subtracted_replicas"]
    assert replicas.shape == (sub.regressor_.n_replicas_, 4, aligned.shape[1])
    np.testing.assert_array_equal(replica_median(replicas), median)
    assert "subtracted_replicas" not in np.load(tmp_path / "t" / "results.npz")


@pytest.fixture(scope="module")
def image_thickness(synthetic_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("image")
    image = str(synthetic_files["image"])
    argv = ["thickness", image, "--out", str(out), "--de1-method", "derivative", "-q"]
    status = main([*argv, *TINY])
    return status, out


def test_image_thickness_maps_equal_the_api(image_thickness, synthetic_files):
    from sklearn_zlp.maps import SpectralMaps, spectral_maps

    status, folder = image_thickness
    assert status == 0
    sub, aligned = _api_job(
        [str(synthetic_files["image"])], training="clusters", de1_method="derivative"
    )
    maps = spectral_maps(sub, aligned.reshape(3, 4, -1), band_gap=False)
    written = SpectralMaps.load(folder / "maps.npz")
    assert written.navigation_shape == (3, 4)
    np.testing.assert_array_equal(written.t_over_lambda, maps.t_over_lambda)
    rows = _results(folder)
    assert rows[5]["spectrum"] == "image.hspy[1,1]"
    np.testing.assert_array_equal(
        _column(rows, "t_over_lambda"), maps.t_over_lambda.reshape(-1)
    )
    # every pixel's number where its pixel is: the map follows the true
    # thickness (a tiny ensemble reads 8-13% low, measured)
    truth = synthetic_files["image_data"].t_over_lambda.reshape(-1)
    measured = _column(rows, "t_over_lambda")
    assert np.corrcoef(measured, truth)[0, 1] > 0.98
    np.testing.assert_allclose(measured, truth, rtol=0.2)
    assert (folder / "report.html").exists()
    assert read_spectra(folder / "subtracted_spectra.hspy").metadata[
        "navigation_shape"
    ] == (3, 4)


@pytest.mark.slow
def test_image_bandgap_writes_maps(synthetic_files, tmp_path, capsys):
    image = str(synthetic_files["image"])
    argv = ["bandgap", image, "--out", str(tmp_path), "--de1-method", "derivative"]
    status, out, err = _run([*argv, *TINY], capsys)
    assert status == 0, err
    assert "e_bg" in out
    rows = _results(tmp_path)
    assert len(rows) == 12 and "e_bg_status" in rows[0]
    from sklearn_zlp.maps import SpectralMaps

    maps = SpectralMaps.load(tmp_path / "maps.npz")
    # the report's table holds each pixel's band gap from the maps, NaN with its status
    np.testing.assert_array_equal(_column(rows, "e_bg_eV"), maps.e_bg.reshape(-1))
    np.testing.assert_array_equal(
        _column(rows, "e_bg_p84_eV"), maps.e_bg_band[1].reshape(-1)
    )
    assert [r["e_bg_status"] for r in rows] == list(maps.e_bg_status.reshape(-1))
