"""Vacuum mode on spectra it has not seen: leave-one-out coverage of the ZLP bands."""

import numpy as np
import pytest

from sklearn_zlp import ZeroLossAligner, ZLPEnsembleRegressor, ZLPSubtractor
from sklearn_zlp.datasets import validation_zoo
from sklearn_zlp.subtraction import default_regressor

HELD = 2


def _loo_data(k):
    """The zoo's vacuum leave-one-out case: aligned spectra and the held-out truth."""
    case = validation_zoo(["vacuum_leave_one_out"])
    case = case["vacuum_leave_one_out"] if isinstance(case, dict) else list(case)[0]
    data = case.generate(k)
    aligner = ZeroLossAligner(energy_axis=data.energy).fit(data.spectra)
    aligned, axis = aligner.transform(data.spectra), aligner.energy_axis_
    shift = aligner.zlp_positions(data.spectra)[HELD]
    truth = np.interp(axis + shift, data.energy, data.zlp[HELD])
    return aligned, axis, truth, case.random_state(k)


@pytest.fixture(scope="module", params=[0, 1])
def loo(request):
    aligned, axis, truth, seed = _loo_data(request.param)
    reg = ZLPEnsembleRegressor(
        n_replicas=16, max_epochs=2000, lr=0.1, reject_outliers=3.0, random_state=seed
    )
    sub = ZLPSubtractor(energy_axis=axis, mode="vacuum", regressor=reg, random_state=seed)
    sub.fit(np.delete(aligned, HELD, axis=0))
    return sub, aligned[HELD : HELD + 1], axis, truth


def _coverage(low, high, truth, axis, ranges):
    used = np.zeros(axis.size, dtype=bool)
    for a, b in ranges:
        used |= (axis >= a) & (axis <= b)
    return float(((truth >= low) & (truth <= high))[used].mean())


TAILS = ((-2.0, -0.3), (0.3, 4.0))


def test_vacuum_band_covers_the_held_out_true_zlp(loo):
    # main before vacuum_residuals (16 x 2000): the tails over 1.5-4 eV were 1.47-1.74
    # times the truth and the 68% band held it on 0.00 of those channels
    sub, held, axis, truth = loo
    low, median, high = sub.predict_zlp(held)
    far = (axis >= 1.5) & (axis <= 4.0)
    assert np.median(median[0, far] / truth[far]) == pytest.approx(1.0, abs=0.25)
    core = (axis >= -0.2) & (axis <= 0.3)
    assert np.median(median[0, core] / truth[core]) == pytest.approx(1.0, abs=0.03)
    assert 0.5 <= _coverage(low[0], high[0], truth, axis, TAILS) <= 0.99


def test_counting_noise_band_covers_the_held_out_data(loo):
    # the band of what a new vacuum spectrum records: its counting and read noise too
    sub, held, axis, _ = loo
    low, _, high = sub.predict_zlp(held, counting_noise=True)
    cover = _coverage(low[0], high[0], held[0], axis, ((-2.0, 4.0),))
    assert 0.58 <= cover <= 0.85
    plain = sub.predict_zlp(held)
    tails = (axis > 1.5) & (axis < 4.0)
    assert np.median((high - low)[0, tails] / (plain[2] - plain[0])[0, tails]) > 1.2


def test_vacuum_residuals_can_be_switched_off_after_fit(loo):
    sub, held, axis, truth = loo
    with_them = sub.predict_zlp(held)
    sub.set_params(vacuum_residuals=False)
    try:
        alone = sub.predict_zlp(held)
    finally:
        sub.set_params(vacuum_residuals=True)
    assert not np.allclose(alone, with_them)
    corrections, collapse, shapes = sub.vacuum_residuals_
    assert np.all((collapse >= 0) & (collapse <= 1))
    assert corrections.shape == (
        sub.regressor_.transform(np.zeros((1, 2))).shape[1],
        axis.size,
    )
    assert shapes.shape[1] == axis.size and np.all(np.isfinite(shapes))


def test_vacuum_draws_do_not_depend_on_the_batch(loo):
    sub, held, _, _ = loo
    both = np.vstack([held, 0.5 * held + 1.0])
    sub.set_params(batch_size=1)
    try:
        one = sub.predict_zlp(both, counting_noise=True)
    finally:
        sub.set_params(batch_size=32)
    together = sub.predict_zlp(both, counting_noise=True)
    np.testing.assert_array_equal(one, together)
    np.testing.assert_array_equal(
        together[:, :1], sub.predict_zlp(held, counting_noise=True)
    )


def test_one_vacuum_spectrum_has_no_residuals():
    aligned, axis, _, seed = _loo_data(0)
    reg = default_regressor(random_state=seed).set_params(n_replicas=2, max_epochs=20)
    sub = ZLPSubtractor(energy_axis=axis, mode="vacuum", regressor=reg, random_state=0)
    assert sub.fit(aligned[:1]).vacuum_residuals_ is None  # one spectrum: no scatter


@pytest.mark.slow
def test_ws2_vacuum_leave_one_out(ws2):
    # three real vacuum spectra: train on two, the third's data inside its 68% band
    # (counting noise included) over -0.2..0.3 eV. Main before vacuum_residuals
    # (16 x 2000): 0.35 / 0.10 / 0.20 per fold; with them 0.45 / 0.75 / 0.80.
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.vacuum)
    vac, axis = aligner.transform(ws2.vacuum), aligner.energy_axis_
    core = (axis >= -0.2) & (axis <= 0.3)
    far = (axis >= 3.0) & (axis <= 6.0)
    covers = []
    for held in range(3):
        reg = default_regressor(random_state=held).set_params(
            n_replicas=16, max_epochs=2000
        )
        sub = ZLPSubtractor(
            energy_axis=axis, mode="vacuum", regressor=reg, random_state=held
        )
        sub.fit(np.delete(vac, held, axis=0))
        low, median, high = sub.predict_zlp(vac[held : held + 1], counting_noise=True)
        data = vac[held]
        covers.append(np.mean((data >= low[0]) & (data <= high[0]), where=core))
        assert 0.6 < np.median(median[0, far] / data[far]) < 1.5  # no tail overshoot
    assert 0.55 <= np.mean(covers) <= 0.85
    assert min(covers) >= 0.4


def test_bench_ws2_loo_runs_every_fold(capsys):
    # benchmarks/bench_ws2_loo.py with tiny networks: every fold and range printed
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "bench_ws2_loo.py"
    spec = importlib.util.spec_from_file_location("bench_ws2_loo", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = bench.main(["--tiny"])
    assert list(summary) == list(bench.RANGES)
    assert all(len(folds) == 3 for folds in summary.values())
    assert all(0.0 <= c <= 1.0 for folds in summary.values() for c in folds)
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("vacuum_17", "vacuum_22", "vacuum_23"))
    assert "pooled over the folds (target 0.68)" in printed
