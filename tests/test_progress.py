"""One progress display for the whole job (sklearn_zlp._progress).

Training reports replica-epochs from its joblib workers through a counter file;
the fits must be bitwise the same whatever is displayed and whichever backend.
"""

import io
import re

import joblib
import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPSubtractor
from sklearn_zlp._progress import JobProgress, progress_task
from sklearn_zlp._worker_progress import CounterSlot, EpochCounters
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.ensemble import _training
from sklearn_zlp.maps import spectral_maps
from sklearn_zlp.preprocessing import ZLPRegionMask

TINY = {
    "n_replicas": 4,
    "replicas_per_chunk": 2,
    "hidden_layer_sizes": (5,),
    "activations": ("sigmoid",),
    "max_epochs": 200,
    "n_jobs": 2,
    "random_state": 0,
}


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def _points():
    energy = np.linspace(-0.5, 1.5, 100)
    truth = 1e5 * (np.exp(-0.5 * (energy / 0.15) ** 2) + 1e-3 / (1 + energy**2))
    return energy[:, None], np.random.default_rng(0).poisson(truth).astype(float)


def _fit(stream=None, mode="lines", backend="loky", **params):
    X, y = _points()
    reg = ZLPEnsembleRegressor(**{**TINY, **params})
    with joblib.parallel_config(backend=backend):
        if stream is None:
            return reg.fit(X, y)
        with JobProgress(mode=mode, stream=stream) as job, job.stage("training"):
            return reg.fit(X, y)


@pytest.fixture(scope="module")
def silent():
    return _fit()


@pytest.fixture(scope="module")
def lines():
    out = io.StringIO()
    return _fit(out), out.getvalue()


def _same_fit(a, b):
    X, _ = _points()
    assert np.array_equal(a.transform(X), b.transform(X))
    for name in ("replica_chi2_", "replica_best_epoch_", "replica_status_", "n_epochs_"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_lines_mode_writes_few_plain_lines_and_a_done_line(lines, silent):
    fit, text = lines
    assert "\r" not in text and "\x1b" not in text
    rows = text.splitlines()
    assert 1 <= len(rows) <= 11  # a line per tenth at most, then the done line
    total = (TINY["n_replicas"] + fit.replica_restarts_.sum()) * TINY["max_epochs"]
    assert re.fullmatch(
        rf"training: done in [\d.]+ s \({total}/{total} replica-epochs\)", rows[-1]
    )
    for row in rows[:-1]:
        assert re.fullmatch(
            rf"training: \d+% \(\d+/{total} replica-epochs\), .* elapsed(, ~.* left)?", row
        )
    _same_fit(fit, silent)


def test_workers_post_their_epochs_before_their_chunk_comes_back():
    # One chunk in one loky worker: chunk-level counting alone would jump 0 -> 100%.
    out = io.StringIO()
    _fit(out, n_replicas=2, max_epochs=6000, n_jobs=2)
    percents = [int(p) for p in re.findall(r"training: (\d+)%", out.getvalue())]
    assert any(0 < p < 100 for p in percents), out.getvalue()


def test_bar_mode_redraws_one_bar_on_a_terminal(silent):
    out = FakeTTY()
    fit = _fit(out, mode="auto")  # a terminal: the bar
    text = out.getvalue()
    assert "\r" in text
    assert text.endswith("\n") and text.count("\n") == 1  # only the done line ends one
    drawn = [s.strip() for s in text.split("\r") if s.strip()]
    assert all(s.startswith("training:") for s in drawn)  # one bar, not two
    assert drawn[-1].startswith("training: done in")
    _same_fit(fit, silent)


def test_mode_none_writes_nothing_even_with_verbose(silent):
    out = io.StringIO()
    fit = _fit(out, mode="none", verbose=1)
    assert out.getvalue() == ""
    _same_fit(fit, silent)


def test_verbose_alone_shows_one_display_and_verbose_0_nothing(silent, capsys):
    fit = _fit(verbose=1)
    err = capsys.readouterr().err
    assert err.count("training: done in") == 1 and "\r" not in err  # not a terminal
    assert "replicas 0-1" not in err  # no bar per chunk
    _same_fit(fit, silent)
    _fit(verbose=0)
    assert capsys.readouterr().err == ""


def test_threading_with_a_display_equals_loky_without(silent):
    out = io.StringIO()
    _same_fit(_fit(out, backend="threading"), silent)
    assert "training: done in" in out.getvalue()


def test_a_backend_without_result_streaming_still_counts_and_fits_the_same(silent):
    # multiprocessing cannot hand results back one by one (nor can ray): all at the end
    out = io.StringIO()
    _same_fit(_fit(out, backend="multiprocessing"), silent)
    assert "training: done in" in out.getvalue()


@pytest.mark.slow
def test_dask_workers_report_and_fit_the_same(silent, dask_client):
    out = io.StringIO()
    _same_fit(_fit(out, backend="dask"), silent)
    assert "training: done in" in out.getvalue()


def test_restarts_add_to_the_training_total(monkeypatch):
    X, y = _points()
    original = _training.fit_chunk
    calls = {"n": 0}

    def first_chunk_goes_nan(*args, **kwargs):
        import torch

        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            with torch.no_grad():
                for p in result[0].module_.parameters():
                    p[0] = float("nan")
        return result

    monkeypatch.setattr(_training, "fit_chunk", first_chunk_goes_nan)
    out = io.StringIO()
    params = {**TINY, "n_jobs": None}  # in this process, where the patch applies
    with JobProgress(mode="lines", stream=out):
        reg = ZLPEnsembleRegressor(**params).fit(X, y)
    assert reg.replica_restarts_.sum() >= 1
    total = (4 + reg.replica_restarts_.sum()) * TINY["max_epochs"]
    assert f"({total}/{total} replica-epochs)" in out.getvalue().splitlines()[-1]


def test_messages_and_nested_stages_in_lines_mode():
    out = io.StringIO()
    with JobProgress(mode="lines", stream=out) as job:
        job.message("first")
        with job.stage("outer", total=10, unit="spectra") as outer:
            outer.update(5)
            with job.stage("inner") as inner:
                job.message("inside")
                inner.update(3)
            outer.update(5)
    rows = out.getvalue().splitlines()
    assert rows[0] == "first" and rows[1].startswith("outer: 50% (5/10 spectra)")
    assert rows[2] == "inside"
    assert re.fullmatch(r"inner: done in [\d.]+ s \(3\)", rows[3])
    assert re.fullmatch(r"outer: done in [\d.]+ s \(10/10 spectra\)", rows[4])
    assert len(rows) == 5


def test_a_message_is_printed_above_the_bar_which_is_redrawn():
    out = FakeTTY()
    with JobProgress(mode="bar", stream=out) as job, job.stage("work", total=4) as stage:
        stage.update(1)
        job.message("hello")
        stage.update(3)
    text = out.getvalue()
    before, after = text.split("hello\n")
    assert before.endswith("\r") and "work:" in before  # the bar was cleared ...
    assert after.startswith("\rwork:")  # ... and drawn again under the message
    assert text.count("\n") == 2


def test_an_exception_ends_the_stage_and_propagates():
    out = io.StringIO()
    with pytest.raises(ValueError, match="bad"):
        with JobProgress(mode="lines", stream=out) as job, job.stage("work") as stage:
            stage.update(2)
            raise ValueError("bad")
    assert re.fullmatch(
        r"work: stopped by ValueError after [\d.]+ s \(2\)\n", out.getvalue()
    )
    # no display is left active: a later fit is silent
    with progress_task("x", 1, "things") as task:
        assert not task.active


def test_keyboard_interrupt_in_a_bar_ends_the_line():
    out = FakeTTY()
    with pytest.raises(KeyboardInterrupt):
        with JobProgress(mode="bar", stream=out) as job, job.stage("work", total=3):
            raise KeyboardInterrupt
    assert out.getvalue().rstrip(" ").split("\r")[-1].startswith("work: interrupted after")
    assert out.getvalue().endswith("\n")


def test_bad_mode_and_use_outside_a_with_block_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        with JobProgress(mode="fancy"):
            pass
    with pytest.raises(RuntimeError, match="with JobProgress"):
        JobProgress().message("hi")


def test_a_closed_stream_never_fails_the_job():
    out = io.StringIO()
    with JobProgress(mode="lines", stream=out) as job, job.stage("work", total=2) as stage:
        out.close()
        stage.update(2)
        job.message("lost")


def test_counters_reach_posting_workers_and_skip_unreachable_ones():
    counters = EpochCounters(3)
    joblib.Parallel(n_jobs=2)(
        joblib.delayed(_post)(counters.slot(i), 7 * i) for i in range(3)
    )
    assert counters.read() == [0, 7, 14]
    counters.close()
    assert counters.read() == [0, 0, 0]
    assert CounterSlot(counters.path, 0).open() is None  # the file is gone: no posts


def _post(slot, value):
    writer = slot.open()
    writer.post(value, force=True)
    writer.close()


@pytest.fixture(scope="module")
def subtractor():
    data = make_synthetic_eels(image_shape=(3, 4), t_over_lambda=(0.3, 0.9), random_state=0)
    X = data.spectra.reshape(-1, data.energy.size)
    sub = ZLPSubtractor(
        data.energy,
        regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
        regressor=ZLPEnsembleRegressor(
            n_replicas=4, max_epochs=100, lr=0.05, random_state=0
        ),
        training="clusters",
        random_state=0,
        batch_size=5,
    ).fit(X)
    return sub, data


def test_subtraction_and_maps_count_their_own_units_once(subtractor):
    sub, data = subtractor
    X = data.spectra.reshape(-1, data.energy.size)
    out = io.StringIO()
    with JobProgress(mode="lines", stream=out) as job:
        sub.subtract(X)  # outside any stage: a stage of its own
        with job.stage("maps"):  # the pixels, not also the spectra subtracted for them
            spectral_maps(sub, data.spectra, band_gap=False)
        with job.stage("band gaps", total=12) as stage:  # the owner counts
            for batch in sub.subtract_batches(X):
                stage.update(len(batch.status))
        with job.stage("batches"):  # left open: subtract_batches may fill it
            assert sum(len(b.status) for b in sub.subtract_batches(X)) == 12
    done = [r for r in out.getvalue().splitlines() if ": done in" in r]
    assert [re.sub(r" in [\d.]+ s", "", r) for r in done] == [
        "subtracting: done (12/12 spectra)",
        "maps: done (12/12 pixels)",
        "band gaps: done (12/12)",
        "batches: done (12/12 spectra)",
    ]
