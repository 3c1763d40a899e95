"""The validation zoo: well-formed seeded cases, the judge, and the accuracy benchmark."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from sklearn_zlp.datasets import ZooCase, ZooExpectation, validation_zoo

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_accuracy.py"


@pytest.fixture(scope="module")
def zoo():
    return validation_zoo()


def test_zoo_cases_are_named_described_and_sized(zoo):
    assert 20 <= len(zoo) <= 30
    assert list(zoo) == [case.name for case in zoo.values()]
    for name, case in zoo.items():
        assert isinstance(case, ZooCase) and name.isidentifier()
        assert case.tests and case.expectations and case.n_seeds >= 1
        assert all(isinstance(e, ZooExpectation) and e.text for e in case.expectations)
        assert "random_state" not in case.generator
    seeds = [case.random_state(k) for case in zoo.values() for k in range(case.n_seeds)]
    assert len(seeds) == len(set(seeds)), "two cases share a seed"


def _param(case, key, default):
    return case.generator.get(key, default)


def test_zoo_spans_the_ranges_of_the_issue(zoo):
    # from the generator arguments (generating all cases takes seconds)
    cases = list(zoo.values())
    fwhm = [_param(c, "fwhm", 0.3) for c in cases]
    dispersion = [np.diff(_param(c, "energy", [0.0, 0.025])[:2])[0] for c in cases]
    thickness = np.concatenate([np.ravel(_param(c, "t_over_lambda", 0.5)) for c in cases])
    n_spectra = [
        int(np.prod(_param(c, "image_shape", (_param(c, "n_spectra", 8),)))) for c in cases
    ]
    read_noise = [_param(c, "read_noise", 5.0) for c in cases]
    drift = [_param(c, "residual_drift", 0.0) for c in cases]
    assert min(fwhm) == 0.02 and max(fwhm) == 2.5
    assert min(dispersion) == pytest.approx(0.001) and max(dispersion) == pytest.approx(0.5)
    specimen = thickness[thickness > 0]
    assert specimen.min() == 0.02 and specimen.max() == 2.5
    assert min(n_spectra) == 1 and max(n_spectra) == 1000
    assert min(read_noise) == 0 and max(read_noise) == 100
    assert min(drift) == 0 and max(drift) == 1.0
    # the drift is what the spectra get, and the thick cases do outgrow their ZLP
    drifted = zoo["drift_1_fwhm"].generate(0)
    assert np.max(np.abs(drifted.residual_shifts)) == pytest.approx(drifted.fwhm, rel=1e-3)
    assert np.max(zoo["thick_broad_vacuum"].generate(0).plasmon_to_zlp) > 1
    steps = [c.steps for c in zoo.values()]
    assert {s["vacuum"] for s in steps} == {True, False}
    # the failure modes issue 11 lists, each with a case
    assert {s["source"] for s in steps} >= {"text_kev", "text_mev"}
    assert any(s["mode"] == "vacuum_loo" for s in steps)
    assert any(s["band_gap_input"] == "image" for s in steps)
    assert any(not s["align"] for s in steps)
    assert any(c.generator.get("pedestal") for c in zoo.values())
    kinds = {e.outcome for c in zoo.values() for e in c.expectations}
    assert kinds == {"recover", "diagnose", "recover_or_diagnose"}


@pytest.mark.parametrize(
    "name", ["reference_ws2like", "mono_20meV_1meV_channels", "vacuum_leave_one_out"]
)
def test_zoo_cases_are_seeded(zoo, name):
    case = zoo[name]
    again = case.generate(0)
    np.testing.assert_array_equal(again.spectra, case.generate(0).spectra)
    other = case.generate(1)
    assert not np.array_equal(other.spectra, again.spectra)
    assert case.random_state(1) == case.random_state(0) + 1


def test_keV_case_carries_its_unit(zoo):
    data = zoo["kev_text_no_header"].generate(0)
    assert data.energy_unit == "keV"
    np.testing.assert_allclose(data.energy, data.energy_ev / 1000, rtol=1e-15)
    assert zoo["kev_text_no_header"].steps["source"] == "text_kev"


def test_validation_zoo_selects_cases_and_names_unknown_ones():
    assert list(validation_zoo(["drift_1_fwhm", "metal_no_gap"])) == [
        "drift_1_fwhm",
        "metal_no_gap",
    ]
    with pytest.raises(ValueError, match="unknown zoo cases"):
        validation_zoo(["no_such_case"])


def test_malformed_cases_and_expectations_are_refused():
    with pytest.raises(ValueError, match="quantity"):
        ZooExpectation("band_gap", "recover")
    with pytest.raises(ValueError, match="outcome"):
        ZooExpectation("e_bg", "guess")
    with pytest.raises(ValueError, match="energy_range"):
        ZooExpectation("zlp", "recover")
    gap = ZooExpectation("e_bg", "recover", tolerance=0.1)
    with pytest.raises(ValueError, match="unknown steps"):
        ZooCase("x", "t", {}, {"alignment": True}, (gap,), seed=0)
    with pytest.raises(ValueError, match="without vacuum spectra"):
        ZooCase("x", "t", {"n_vacuum": 0}, {"vacuum": True}, (gap,), seed=0)


# ----------------------------------------------------------------------- the judge
def _normal_estimates(n, half_width, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.full(n, 1.6)
    value = truth + rng.normal(0.0, 0.02, n)
    return truth, value, value - half_width, value + half_width


def test_judge_meets_honest_intervals_and_rejects_narrow_ones():
    e = ZooExpectation("e_bg", "recover", tolerance=0.1)
    ok = ["ok"] * 4000
    honest = e.judge(*_normal_estimates(4000, 0.02 * 0.994458), ok)  # 68.0% of N(0, 1)
    assert honest["verdict"] == "MET"
    assert honest["coverage"] == pytest.approx(0.68, abs=0.02)
    narrow = e.judge(*_normal_estimates(4000, 0.01), ok)
    assert narrow["verdict"] == "NOT MET" and "coverage" in narrow["reason"]
    assert narrow["n_silent_wrong"] > 2000
    few = e.judge(*_normal_estimates(10, 0.012), ["(none)"] * 10)
    assert few["verdict"] in ("UNCLEAR", "MET")  # ten estimates cannot tell 0.5 from 0.68
    lo, hi = few["coverage_interval"]
    assert lo < 0.63 and hi > 0.73
    truth, value, low, high = _normal_estimates(100, 0.02)
    wrong = e.judge(truth, value + 0.2, low + 0.2, high + 0.2, ["ok"] * 100)
    assert wrong["verdict"] == "NOT MET" and "within 0.1" in wrong["reason"]


def _exact_coverage(n, covered=17, of=25):
    """Estimates 0.01 from the truth whose intervals hold it in exactly covered/of."""
    truth = np.full(n, 1.6)
    value = truth + 0.01
    hold = np.arange(n) % of < covered
    half = np.where(hold, 0.02, 0.005)
    return truth, value, value - half, value + half


def test_judge_counts_statuses_errors_and_silence():
    truth, value, low, high = _exact_coverage(400)
    flagged = ["ok"] * 300 + ["at_bound"] * 100
    recover = ZooExpectation("e_bg", "recover", tolerance=0.1)
    either = ZooExpectation("e_bg", "recover_or_diagnose", tolerance=0.1, refusal="keV")
    diagnose = ZooExpectation("e_bg", "diagnose", refusal="keV")
    assert recover.judge(truth, value, low, high, flagged)["verdict"] == "NOT MET"
    verdict = either.judge(truth, value, low, high, flagged)
    assert verdict["n_flagged"] == 100 and verdict["verdict"] == "MET"
    assert diagnose.judge(truth, value, low, high, ["no_onset"] * 400)["verdict"] == "MET"
    silent = diagnose.judge(truth, value, low, high, ["(none)"] * 400)
    assert silent["verdict"] == "NOT MET" and "no status" in silent["reason"]
    nan = np.full(400, np.nan)
    assert diagnose.judge(truth, nan, nan, nan, ["(none)"] * 400)["verdict"] == "MET"
    named = ["error: ValueError: the axis looks like keV"] * 400
    assert either.judge(truth, nan, nan, nan, named)["verdict"] == "MET"
    vague = ["error: ValueError: found no dE_I"] * 400
    result = either.judge(truth, nan, nan, nan, vague)
    assert result["verdict"] == "NOT MET" and "does not name" in result["reason"]
    assert recover.judge(truth, nan, nan, nan, named)["verdict"] == "NOT MET"
    misread = ["silent: 4 band gaps for 12 pixels"] * 400
    assert either.judge(truth, nan, nan, nan, misread)["verdict"] == "NOT MET"


def test_relative_tolerance_and_energy_ranges():
    e = ZooExpectation(
        "zlp", "recover", tolerance=0.05, relative=True, energy_range=((-1, 0), (1, 2))
    )
    assert e.ranges() == ((-1, 0), (1, 2))
    truth = np.array([100.0, 1000.0])
    verdict = e.judge(truth, truth * 1.04, truth * 0.9, truth * 1.1, ["(none)"] * 2)
    assert verdict["within"] == 1.0 and verdict["median_abs_error"] == pytest.approx(0.04)
    one = ZooExpectation("inelastic", "recover", energy_range=(1.0, 4.0))
    assert one.ranges() == ((1.0, 4.0),)


# ------------------------------------------------------------------- the benchmark
def _bench():
    spec = importlib.util.spec_from_file_location("bench_accuracy", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_accuracy_runs_a_tiny_case_end_to_end(tmp_path, capsys):
    out = tmp_path / "rows.json"
    lines = _bench().main(["--tiny", "--cases", "single_spectrum", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "4 replicas x 30 epochs" in printed and "single_spectrum" in printed
    assert "expectations met" in printed
    assert [name for name, *_ in lines] == ["single_spectrum"]
    dump = json.loads(out.read_text())
    assert {v["verdict"] for v in dump["verdicts"]} <= {"MET", "NOT MET", "UNCLEAR"}
    run = dump["runs"]["single_spectrum"][0]
    assert run["seed"] == 1300 and run["estimates"]["0"]["truth"] == [1.6]
    assert len(run["estimates"]["0"]["status"]) == 1


def test_bench_reads_statuses_where_they_exist():
    bench = _bench()

    class Result:
        status = np.array([["ok", "at_bound"], ["ok", "ok"], ["ok", "at_bound"]])

    assert bench.statuses_of(Result(), 2) == ["ok", "at_bound (2/3)"]
    assert bench.statuses_of(object(), 3) == ["(none)"] * 3
    assert bench.combine(["ok", "(none)"], ["no_onset", "(none)"]) == ["no_onset", "(none)"]


@pytest.mark.slow
def test_bench_accuracy_runs_the_other_pipelines(tmp_path, capsys):
    # vacuum leave-one-out, text files in keV/meV and the spectrum image, tiny networks
    out = tmp_path / "rows.json"
    cases = [
        "vacuum_leave_one_out",
        "kev_text_no_header",
        "mev_text_no_header",
        "image_to_fit_band_gap",
    ]
    lines = _bench().main(["--tiny", "--cases", *cases, "--json", str(out)])
    assert [name for name, *_ in lines] == [cases[0], cases[0], *cases]
    printed = capsys.readouterr().out
    assert all(name in printed for name in cases)
    # the held-out ZLP is scored channel by channel, against its noise-free truth
    zlp = json.loads(out.read_text())["runs"]["vacuum_leave_one_out"][0]["estimates"]["0"]
    assert 49 <= len(zlp["truth"]) <= 51 and min(zlp["truth"]) > 0


def test_docs_case_table_is_current():
    from _zoo_table import replace_cases

    page = (Path(__file__).parents[1] / "docs" / "zoo.rst").read_text()
    assert page == replace_cases(page), (
        "regenerate it: python tests/_zoo_table.py docs/zoo.rst"
    )
