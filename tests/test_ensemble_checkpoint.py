"""ZLPEnsembleRegressor(checkpoint_dir=...): resume equals an uninterrupted fit."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor
from sklearn_zlp.ensemble import _training
from sklearn_zlp.ensemble._net import ReplicaLookBack

FAST = {"n_replicas": 4, "max_epochs": 60, "replicas_per_chunk": 2, "random_state": 0}
# lr 1e3 diverges; the retries at a tenth of the step each give restart groups.
RESTARTS = {**FAST, "max_epochs": 100, "lr": 1e3, "max_restarts": 5}


def _points():
    rng = np.random.default_rng(0)
    energy = np.linspace(-0.5, 1.5, 60)
    rows, counts = [], []
    for s in range(3):
        height = 1e5 * (1 + 0.1 * s)
        truth = height * (np.exp(-0.5 * (energy / 0.15) ** 2) + 1e-3 / (1 + energy**2))
        rows.append(np.column_stack([energy, np.full(energy.size, np.log(height))]))
        counts.append(rng.poisson(truth).astype(float))
    return np.vstack(rows), np.concatenate(counts)


@pytest.fixture(scope="module")
def points():
    return _points()


@pytest.fixture(scope="module")
def reference(points):
    """Uninterrupted fits without checkpoints."""
    X, y = points
    return {
        "fast": ZLPEnsembleRegressor(**FAST).fit(X, y),
        "restarts": ZLPEnsembleRegressor(**RESTARTS).fit(X, y),
    }


@pytest.fixture
def trainings(monkeypatch):
    """Descriptions of the groups actually trained (not loaded) from now on."""
    calls = []
    original = _training.fit_chunk

    def counting(*args, **kwargs):
        if kwargs["max_epochs"] > 0:  # zero epochs: rebuilding a loaded group
            calls.append(kwargs["description"])
        return original(*args, **kwargs)

    monkeypatch.setattr(_training, "fit_chunk", counting)
    return calls


def _assert_same_fit(reg, ref, X):
    np.testing.assert_array_equal(reg.transform(X), ref.transform(X))
    np.testing.assert_array_equal(reg.predict(X), ref.predict(X))
    names = [k for k in vars(ref) if k.startswith("replica_")]
    assert len(names) >= 8
    for name in [*names, "kept_", "random_seeds_", "n_epochs_", "n_replicas_"]:
        np.testing.assert_array_equal(getattr(reg, name), getattr(ref, name), err_msg=name)
    for net, ref_net in zip(reg.estimators_, ref.estimators_, strict=True):
        for p, q in zip(
            net.module_.parameters(), ref_net.module_.parameters(), strict=True
        ):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def _files(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def test_resume_after_an_interrupt_equals_an_uninterrupted_fit(
    points, reference, tmp_path, trainings, monkeypatch
):
    X, y = points
    # Interrupt from inside training, in the second chunk (epochs 61-120).
    count = {"epochs": 0}
    original = ReplicaLookBack.on_epoch_end

    def on_epoch_end(self, net, **kwargs):
        count["epochs"] += 1
        if count["epochs"] == 70:
            raise KeyboardInterrupt
        return original(self, net, **kwargs)

    monkeypatch.setattr(ReplicaLookBack, "on_epoch_end", on_epoch_end)
    reg = ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        reg.fit(X, y)
    monkeypatch.setattr(ReplicaLookBack, "on_epoch_end", original)
    assert trainings == ["replicas 0-1", "replicas 2-3"]
    # The finished chunk is on disk: one .npz and its .json.
    files = _files(tmp_path)
    assert len(files) == 2 and {Path(f).suffix for f in files} == {".npz", ".json"}

    trainings.clear()
    reg.fit(X, y)
    assert trainings == ["replicas 2-3"]  # the finished chunk was loaded, not retrained
    assert reg.n_checkpoint_loaded_ == 2
    _assert_same_fit(reg, reference["fast"], X)
    assert len(_files(tmp_path)) == 4

    trainings.clear()
    again = ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert trainings == [] and again.n_checkpoint_loaded_ == 4
    _assert_same_fit(again, reference["fast"], X)


def test_restart_groups_are_checkpointed_and_resumed(
    points, reference, tmp_path, trainings, monkeypatch
):
    X, y = points
    original = _training.fit_chunk  # the counting one

    def interrupt_at_restart_2(*args, **kwargs):
        if kwargs["description"].startswith("restart 2"):
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(_training, "fit_chunk", interrupt_at_restart_2)
    with pytest.raises(KeyboardInterrupt):
        ZLPEnsembleRegressor(**RESTARTS, checkpoint_dir=tmp_path).fit(X, y)
    monkeypatch.setattr(_training, "fit_chunk", original)
    first = set(trainings)
    assert {"replicas 0-1", "replicas 2-3"} <= first
    assert any(c.startswith("restart 1") for c in first)
    trainings.clear()
    reg = ZLPEnsembleRegressor(**RESTARTS, checkpoint_dir=tmp_path).fit(X, y)
    # Nothing that finished before the interrupt was trained again.
    assert trainings and not first & set(trainings)
    assert all(c.startswith("restart") and c[8] >= "2" for c in trainings)
    assert (reg.replica_restarts_ >= 2).any()
    _assert_same_fit(reg, reference["restarts"], X)


def test_checkpoints_written_by_parallel_workers(points, reference, tmp_path, trainings):
    X, y = points
    ZLPEnsembleRegressor(**FAST, n_jobs=2, checkpoint_dir=tmp_path).fit(X, y)
    assert len(_files(tmp_path)) == 4  # both chunks, written inside the workers
    trainings.clear()
    reg = ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert trainings == []
    _assert_same_fit(reg, reference["fast"], X)


def test_checkpoints_load_without_executing_anything(points, tmp_path):
    X, y = points
    ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    for path in Path(tmp_path).glob("*.npz"):
        with np.load(path, allow_pickle=False) as data:
            assert all(data[name].dtype.kind in "fi" for name in data.files)
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["format"] == 1 and meta["versions"]["sklearn_zlp"]


class _Payload:
    """Unpickling this would run code; a checkpoint must never do that."""

    def __reduce__(self):
        return (_mark_executed, ())


_EXECUTED = []


def _mark_executed():
    _EXECUTED.append(True)
    return "executed"


def _first_chunk(directory):
    (meta_path, *_) = sorted(Path(directory).glob("*.json"))
    return meta_path.with_suffix(".npz"), meta_path


def _sha256(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _flip_a_byte(npz, meta):
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))


def _truncate(npz, meta):
    npz.write_bytes(npz.read_bytes()[:100])


def _edit_meta(**changes):
    def tamper(npz, meta):
        content = json.loads(meta.read_text())
        content.update(changes)
        meta.write_text(json.dumps(content))

    return tamper


def _garbage_json(npz, meta):
    meta.write_text("{not json")


def _no_json(npz, meta):
    meta.unlink()


def _pickled_object_array(npz, meta):
    # A well-formed npz of the right names whose parameter is a pickled object,
    # with its true SHA-256 recorded: only allow_pickle=False stands in the way.
    with np.load(npz) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["param_0"] = np.array([_Payload()], dtype=object)
    with open(npz, "wb") as f:
        np.savez(f, **arrays)
    content = json.loads(meta.read_text())
    content["npz_sha256"] = _sha256(npz)
    meta.write_text(json.dumps(content))


def _wrong_shapes(npz, meta):
    with np.load(npz) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["param_0"] = arrays["param_0"][:, :1]
    with open(npz, "wb") as f:
        np.savez(f, **arrays)
    content = json.loads(meta.read_text())
    content["npz_sha256"] = _sha256(npz)
    meta.write_text(json.dumps(content))


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (_flip_a_byte, "does not match its recorded SHA-256"),
        (_truncate, "does not match its recorded SHA-256"),
        (_edit_meta(versions={"sklearn_zlp": "0.0.1"}), "is stale"),
        (_edit_meta(key="0" * 64), "belongs to another fit"),
        (_edit_meta(format=0), "has format 0"),
        (_garbage_json, "is not readable JSON"),
        (_no_json, "has no JSON metadata"),
        (_pickled_object_array, "cannot be read"),
        (_wrong_shapes, "do not fit this network"),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_bad_checkpoints_are_ignored_with_a_warning(
    points, reference, tmp_path, trainings, tamper, match
):
    X, y = points
    ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    npz, meta = _first_chunk(tmp_path)
    tamper(npz, meta)
    trainings.clear()
    with pytest.warns(UserWarning, match=match):
        reg = ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert len(trainings) == 1  # the tampered chunk was retrained, never trusted
    assert not _EXECUTED
    _assert_same_fit(reg, reference["fast"], X)
    # The retrained group replaced the bad file: the next fit loads everything.
    trainings.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert trainings == []


def test_other_data_or_parameters_never_load_a_checkpoint(
    points, tmp_path, trainings, monkeypatch
):
    X, y = points
    ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    changes = [
        ({}, {"y": y * 1.01}),
        ({}, {"sample_weight": 2.0 / y}),
        ({"lr": 0.02}, {}),
        ({"max_epochs": 61}, {}),
        ({"random_state": 1}, {}),
        ({"monotonic_X": X[X[:, 0] > 0.5]}, {}),
    ]
    for params, data in changes:
        trainings.clear()
        kwargs = {"X": X, "y": y, **data}
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # other fits' files: no noise
            ZLPEnsembleRegressor(**{**FAST, **params}, checkpoint_dir=tmp_path).fit(
                **kwargs
            )
        assert trainings[:2] == ["replicas 0-1", "replicas 2-3"], (params, data)
    # Nor does a fit on the torch path load the compiled step's checkpoints.
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", "torch")
    trainings.clear()
    ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert trainings[:2] == ["replicas 0-1", "replicas 2-3"]


def test_checkpoint_without_random_state_warns_that_nothing_can_resume(points, tmp_path):
    X, y = points
    with pytest.warns(UserWarning, match="pass an int random_state"):
        ZLPEnsembleRegressor(
            **{**FAST, "random_state": None},
            checkpoint_dir=tmp_path,
        ).fit(X, y)


def test_verbose_reports_loaded_groups(points, tmp_path, capsys):
    X, y = points
    ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    ZLPEnsembleRegressor(**FAST, checkpoint_dir=tmp_path, verbose=1).fit(X, y)
    assert "2 of 2 groups loaded from" in capsys.readouterr().err  # the display's stream
