"""Model files: est.save(path) / load_model(path) round-trip bitwise and execute nothing.

Every supported estimator is fitted once (tiny), saved, loaded, and compared with
the original: its parameters, every fitted attribute and every prediction,
bitwise. Foreign, tampered, damaged and too-new files get a ModelFileError
that says which; a class name edited into a file is refused, never imported.
"""

import io
import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

import sklearn_zlp
from sklearn_zlp import (
    EnergyWindow,
    ThicknessClusterer,
    ZeroLossAligner,
    ZLPEnsembleRegressor,
    ZLPRegionMask,
    ZLPSubtractor,
    load_model,
)
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.io import ModelFileError, save_model
from sklearn_zlp.io._model_state import StateReader, StateWriter

FOREIGN = "not a sklearn-zlp model file"
TAMPERED = "tampered or damaged"


@pytest.fixture(scope="module")
def data():
    d = make_synthetic_eels(
        4,
        energy=np.linspace(-1.5, 6.0, 301),
        fwhm=0.3,
        e_bg=1.6,
        read_noise=40.0,
        random_state=2,
    )
    return d.energy, np.round(d.spectra)


@pytest.fixture(scope="module")
def fitted(data):
    """One fitted estimator of every supported kind."""
    energy, X = data
    sub = ZLPSubtractor(
        energy_axis=energy,
        regressor=ZLPEnsembleRegressor(
            n_replicas=4, max_epochs=40, lr=0.1, lr_schedule="cosine", random_state=0
        ),
        regions=ZLPRegionMask(de1=1.2, de2=3.5),
        random_state=0,
    ).fit(X)
    pipe = Pipeline(
        [
            ("align", ZeroLossAligner(energy_axis=energy)),
            ("clusters", ThicknessClusterer(n_clusters=2, random_state=0)),
        ]
    ).fit(X)
    return {
        "subtractor": sub,
        "ensemble": sub.regressor_,
        "mask": ZLPRegionMask(energy_axis=energy, de1=1.2, de2=3.5).fit(X),
        "aligner": ZeroLossAligner(energy_axis=energy).fit(X),
        "clusterer": ThicknessClusterer(n_clusters=2, random_state=0).fit(X),
        "window": EnergyWindow(energy_axis=energy, e_min=-1.0, e_max=4.0).fit(X),
        "pipeline": pipe,
    }


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    """name -> path of the saved estimator."""
    folder = tmp_path_factory.mktemp("models")
    return {name: save_model(est, folder / f"{name}.zlp") for name, est in fitted.items()}


def assert_same(a, b, where="estimator"):
    """Bitwise the same value: arrays (dtype too), estimators, nets, containers."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype.kind == "O":
            for i, (x, y) in enumerate(zip(a.flat, b.flat, strict=True)):
                assert_same(x, y, f"{where}[{i}]")
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float) or isinstance(a, np.floating):
        assert np.array_equal(a, b, equal_nan=True) and str(a) == str(b), where
    elif torch.is_tensor(a):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif type(a).__name__ == "ReplicaNet":
        assert_same(
            {k: v for k, v in a.get_params(deep=False).items() if k != "callbacks"},
            {k: v for k, v in b.get_params(deep=False).items() if k != "callbacks"},
            f"{where}.params",
        )
        assert [n for n, _ in a.callbacks] == [n for n, _ in b.callbacks], where
        assert_same(dict(a.module_.state_dict()), dict(b.module_.state_dict()), where)
        # What the ensemble set on its nets. Skorch's bookkeeping is rebuilt by
        # initialize() (the trained net's prefixes_ lack "callbacks" since
        # training deleted callbacks_), and the history is not kept.
        skip = {"history_", "virtual_params_", "callbacks_", "optimizer_", "module_"}
        skip |= {"criterion_", "prefixes_", "callbacks", *a.get_params(deep=False)}
        assert set(vars(a)) == set(vars(b)), where
        for k in set(vars(a)) - skip:
            assert_same(vars(a)[k], vars(b)[k], f"{where}.{k}")
    elif hasattr(a, "get_params") and hasattr(a, "__dict__"):
        assert list(vars(a)) == list(vars(b)), where
        for k in vars(a):
            assert_same(vars(a)[k], vars(b)[k], f"{where}.{k}")
    else:
        assert a == b, where


# -- round trips ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["subtractor", "ensemble", "mask", "aligner", "clusterer", "window", "pipeline"],
)
def test_round_trip_restores_every_attribute_bitwise(fitted, saved, name):
    loaded = load_model(saved[name])
    assert_same(fitted[name], loaded, name)
    assert_same(fitted[name].get_params(), loaded.get_params(), f"{name}.get_params()")
    assert_same(clone(fitted[name]).get_params(), clone(loaded).get_params(), "clone")


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("mask", "transform"),
        ("aligner", "transform"),
        ("clusterer", "predict"),
        ("clusterer", "transform"),
        ("window", "transform"),
        ("pipeline", "predict"),
        ("subtractor", "transform"),
    ],
)
def test_loaded_estimators_give_identical_results(fitted, saved, data, name, method):
    X = data[1]
    expected = getattr(fitted[name], method)(X)
    assert_same(getattr(load_model(saved[name]), method)(X), expected, method)


@pytest.mark.parametrize("engine", ["compiled", "torch"])
def test_loaded_ensemble_predicts_bitwise_on_both_engines(
    fitted, saved, monkeypatch, engine
):
    monkeypatch.setenv("SKLEARN_ZLP_KERNEL", engine)
    reg = fitted["ensemble"]
    loaded = ZLPEnsembleRegressor.load(saved["ensemble"])
    X = np.column_stack([np.linspace(-1.5, 4, 500), np.full(500, 12.0)])
    assert np.array_equal(loaded.transform(X), reg.transform(X))
    assert np.array_equal(loaded.predict(X), reg.predict(X))
    for a, b in zip(loaded.predict_interval(X), reg.predict_interval(X), strict=True):
        assert np.array_equal(a, b)
    assert loaded.summary() == reg.summary()


def test_loaded_subtractor_subtracts_identically(fitted, saved, data):
    X = data[1]
    sub = fitted["subtractor"]
    loaded = ZLPSubtractor.load(saved["subtractor"])
    a, b = sub.subtract(X, keep_replicas=True), loaded.subtract(X, keep_replicas=True)
    assert_same(vars(a), vars(b), "ZLPSubtractionResult")
    assert loaded.summary() == sub.summary()


def test_loaded_model_pickles_and_saves_again(fitted, saved, tmp_path, data):
    loaded = load_model(saved["subtractor"])
    again = pickle.loads(pickle.dumps(loaded))
    assert np.array_equal(again.transform(data[1]), fitted["subtractor"].transform(data[1]))
    # a saved, loaded and saved again model is the same file, byte for byte
    assert (
        Path(loaded.save(tmp_path / "again.zlp")).read_bytes()
        == Path(saved["subtractor"]).read_bytes()
    )


def test_save_does_not_modify_the_estimator(fitted, tmp_path):
    sub = fitted["subtractor"]
    before = pickle.dumps(sub)
    path = sub.save(tmp_path / "m.zlp")
    assert path == str(tmp_path / "m.zlp")
    assert pickle.dumps(sub) == before


def test_odd_values_round_trip_exactly():
    # what fitted attributes and parameters may hold, beyond plain arrays
    rng = np.random.RandomState(3)
    rng.normal(size=5)  # a used generator: its position is part of its state
    value = {
        1: np.float32(1.5),
        "tuple": (np.int64(3), [None, True, float("nan"), -0.0, float("-inf"), 2**70]),
        "rng": rng,
        "path": Path("some/dir"),
        "statuses": np.array(["ok", None, 1.5], dtype=object),
        "text": np.array(["é", "ab"]),
        "complex": np.complex128(1 + 2j),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "big_endian": np.arange(3, dtype=">f8"),
        "tensor": torch.arange(4, dtype=torch.float32),
        "bool": np.bool_(True),
        "str": np.str_("x"),
    }
    writer = StateWriter()
    tree = json.loads(json.dumps(writer.encode(value, "v"), allow_nan=False))
    buffers = {}
    for name, array in writer.arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        buffers[name] = buffer.getvalue()
    out = StateReader(lambda n: np.load(io.BytesIO(buffers[n]))).decode(tree, "v")
    rng_out = out.pop("rng")
    assert_same({k: v for k, v in value.items() if k != "rng"}, out, "value")
    assert out["fortran"].flags.f_contiguous
    assert np.array_equal(rng_out.normal(size=5), rng.normal(size=5))


# -- refusals when saving ---------------------------------------------------------------


def test_unfitted_estimator_is_not_saved(tmp_path):
    with pytest.raises(NotFittedError):
        ZLPEnsembleRegressor().save(tmp_path / "m.zlp")
    assert not list(tmp_path.iterdir())


def test_unsupported_attribute_is_named_and_nothing_is_written(fitted, tmp_path):
    target = tmp_path / "m.zlp"
    target.write_bytes(b"older model")
    mask = clone(fitted["mask"])
    mask.__dict__.update(fitted["mask"].__dict__, cache_=lambda: 0)
    with pytest.raises(TypeError, match=r"cannot save ZLPRegionMask\.cache_: .*function"):
        mask.save(target)
    assert target.read_bytes() == b"older model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.zlp"]  # no temporary left


def test_unsupported_estimator_class_is_refused(tmp_path):
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(TypeError, match="cannot save a LinearRegression"):
        save_model(model, tmp_path / "m.zlp")


# -- refusals when loading ----------------------------------------------------------------


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_zip(path, members, rehash=False):
    """A model file with these members; ``rehash`` makes the manifest match them."""
    if rehash:
        import hashlib

        manifest = json.loads(members["manifest.json"])
        manifest["members"] = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in members.items()
            if name != "manifest.json"
        }
        members = {**members, "manifest.json": json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _edit_manifest(source, target, **changes):
    members = _members(source)
    manifest = json.loads(members["manifest.json"])
    manifest.update(changes)
    members["manifest.json"] = json.dumps(manifest).encode()
    return _write_zip(target, members)


def test_a_flipped_byte_is_detected(saved, tmp_path):
    raw = bytearray(Path(saved["ensemble"]).read_bytes())
    with zipfile.ZipFile(saved["ensemble"]) as archive:
        info = next(i for i in archive.infolist() if "weights.0" in i.filename)
    raw[info.header_offset + 30 + len(info.filename) + 10] ^= 0x01  # inside its data
    path = tmp_path / "flipped.zlp"
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match=TAMPERED):
        load_model(path)


def test_edited_weights_with_a_consistent_zip_are_detected(saved, tmp_path):
    members = _members(saved["ensemble"])
    name = next(n for n in members if "weights.0" in n)
    array = np.load(io.BytesIO(members[name]))
    array[0, 0, 0] += 1.0
    buffer = io.BytesIO()
    np.save(buffer, array)
    members[name] = buffer.getvalue()
    path = _write_zip(tmp_path / "edited.zlp", members)
    with pytest.raises(ModelFileError, match=f"{TAMPERED}.*SHA-256 of arrays/"):
        load_model(path)


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_missing_or_extra_members_are_detected(saved, tmp_path, change):
    members = _members(saved["mask"])
    if change == "missing":
        del members[next(n for n in members if n.startswith("arrays/"))]
    else:
        members["arrays/9999-extra.npy"] = b"\x93NUMPY"
    with pytest.raises(ModelFileError, match=f"{TAMPERED}.*members missing"):
        load_model(_write_zip(tmp_path / "m.zlp", members))


@pytest.mark.parametrize("name", ["os.system", "this.Zen", "builtins.eval"])
def test_an_unknown_class_is_refused_without_importing_it(saved, tmp_path, name):
    assert "this" not in sys.modules  # importing `this` would print the Zen of Python
    path = _edit_manifest(saved["mask"], tmp_path / "m.zlp", **{"class": name})
    with pytest.raises(ModelFileError, match=f"names the class '{name}'.*does not load"):
        load_model(path)
    assert "this" not in sys.modules


def test_an_unknown_nested_class_is_refused_without_importing_it(saved, tmp_path):
    members = _members(saved["subtractor"])
    state = members["state.json"].decode()
    assert '"sklearn_zlp.ZLPRegionMask"' in state
    members["state.json"] = state.replace(
        '"sklearn_zlp.ZLPRegionMask"', '"this.Zen"'
    ).encode()
    path = _write_zip(tmp_path / "m.zlp", members, rehash=True)
    with pytest.raises(ModelFileError, match="names the class 'this.Zen'"):
        load_model(path)
    assert "this" not in sys.modules


def test_a_hand_edited_state_that_does_not_decode_is_damaged(saved, tmp_path):
    members = _members(saved["mask"])
    members["state.json"] = b'{"$type": "pickle", "data": "gASVAAAA"}'
    path = _write_zip(tmp_path / "m.zlp", members, rehash=True)
    with pytest.raises(ModelFileError, match=f"{TAMPERED}.*unknown type 'pickle'"):
        load_model(path)


class _Trap:
    """Unpickling this creates a directory: proof that a pickle was loaded."""

    def __init__(self, folder):
        self.folder = folder

    def __reduce__(self):
        return (os.mkdir, (self.folder,))


@pytest.mark.parametrize("kind", ["pickle", "trap", "zip", "empty", "text", "npz"])
def test_foreign_files_are_refused_and_never_unpickled(fitted, tmp_path, kind):
    path = tmp_path / "model.zlp"
    trap = tmp_path / "trap_was_sprung"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(fitted["mask"]))
    elif kind == "trap":
        path.write_bytes(pickle.dumps(_Trap(str(trap))))
    elif kind == "zip":
        _write_zip(path, {"readme.txt": b"hello", "data.bin": os.urandom(64)})
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("energy,counts\n0,1\n")
    else:
        np.savez(path.with_suffix(".npz"), a=np.arange(3))
        path = path.with_suffix(".npz")
    with pytest.raises(ModelFileError, match=FOREIGN):
        load_model(path)
    assert not trap.exists()


def test_a_zip_with_someone_elses_manifest_is_foreign(tmp_path):
    path = _write_zip(tmp_path / "m.zlp", {"manifest.json": b'{"format": "other"}'})
    with pytest.raises(ModelFileError, match=f"{FOREIGN}.*not sklearn-zlp's"):
        load_model(path)


def test_a_truncated_file_is_damaged(saved, tmp_path):
    path = tmp_path / "cut.zlp"
    path.write_bytes(Path(saved["mask"]).read_bytes()[:-200])
    with pytest.raises(ModelFileError, match=TAMPERED):
        load_model(path)


def test_a_newer_format_asks_for_an_upgrade(saved, tmp_path):
    path = _edit_manifest(saved["mask"], tmp_path / "m.zlp", format_version=99)
    with pytest.raises(ModelFileError, match=r"newer sklearn-zlp .*upgrade sklearn-zlp"):
        load_model(path)


def test_another_version_loads_with_a_warning(saved, tmp_path):
    manifest = json.loads(_members(saved["mask"])["manifest.json"])
    versions = {**manifest["versions"], "sklearn_zlp": "0.0.1"}
    path = _edit_manifest(saved["mask"], tmp_path / "m.zlp", versions=versions)
    with pytest.warns(UserWarning, match=r"written with sklearn_zlp 0\.0\.1 \(running"):
        load_model(path)


def test_expected_class_is_checked(saved):
    with pytest.raises(
        TypeError, match="holds a ZLPSubtractor, not a ZLPEnsembleRegressor"
    ):
        ZLPEnsembleRegressor.load(saved["subtractor"])
    with pytest.raises(TypeError, match="not a ZeroLossAligner or ZLPRegionMask"):
        load_model(saved["ensemble"], expected=(ZeroLossAligner, ZLPRegionMask))
    assert isinstance(
        sklearn_zlp.load_model(saved["mask"], expected=ZLPRegionMask), ZLPRegionMask
    )


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_trained_on_a_gpu_saves_and_loads_bitwise(data, tmp_path):
    X = np.column_stack([np.linspace(-1.5, 4, 200), np.full(200, 12.0)])
    y = 1e5 * np.exp(-0.5 * (X[:, 0] / 0.2) ** 2) + 10
    reg = ZLPEnsembleRegressor(n_replicas=4, max_epochs=40, device="cuda", random_state=0)
    reg.fit(X, y)
    loaded = ZLPEnsembleRegressor.load(reg.save(tmp_path / "gpu.zlp"))
    assert np.array_equal(loaded.transform(X), reg.transform(X))
