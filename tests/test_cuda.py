"""device="cuda": what a GPU-trained model gives and where it can go afterwards.

Skipped without a CUDA GPU (CI has none); run on a lent GPU machine with
``python -m pytest tests/test_cuda.py``. The no-GPU error is tested in
test_ensemble.py.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _subtractor(device):
    regressor = ZLPEnsembleRegressor(
        n_replicas=8, max_epochs=600, lr=0.1, random_state=0, device=device
    )
    return ZLPSubtractor(
        regressor=regressor, regions=ZLPRegionMask(de1=1.3, de2=5.0), random_state=0
    )


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_eels(
        5, fwhm=0.3, t_over_lambda=(0.3, 0.7), e_bg=1.6, n_vacuum=3, random_state=3
    )


@pytest.fixture(scope="module")
def pair(synthetic):
    cpu = _subtractor("cpu").set_params(energy_axis=synthetic.energy)
    gpu = _subtractor("cuda").set_params(energy_axis=synthetic.energy)
    return cpu.fit(synthetic.spectra), gpu.fit(synthetic.spectra)


def test_gpu_training_agrees_with_cpu_within_the_band(pair, synthetic):
    # GPU and CPU round differently, so 600 epochs of Adam end on slightly different
    # weights; the difference must be small against the uncertainty the band states.
    cpu, gpu = (s.subtract(synthetic.spectra) for s in pair)
    past = synthetic.energy > 1.3
    half_width = 0.5 * np.diff(cpu.subtracted_band, axis=0)[0][:, past]
    diff = np.abs(gpu.subtracted_median - cpu.subtracted_median)[:, past]
    assert np.quantile(diff / np.maximum(half_width, 1e-12), 0.95) < 0.5
    assert gpu.status.tolist() == cpu.status.tolist()


def _gpu_tensors(obj, path, seen, found):
    """Paths of the tensors off the CPU reachable from ``obj``."""
    if id(obj) in seen:
        return found
    seen.add(id(obj))
    if torch.is_tensor(obj):
        if obj.device.type != "cpu":
            found.append(path)
    elif isinstance(obj, torch.optim.Optimizer):
        _gpu_tensors(list(obj.state.values()), f"{path}.state", seen, found)
    elif isinstance(obj, torch.nn.Module):
        _gpu_tensors(obj.state_dict(keep_vars=True), path, seen, found)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _gpu_tensors(value, f"{path}[{key!r}]", seen, found)
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _gpu_tensors(value, f"{path}[{i}]", seen, found)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        _gpu_tensors(vars(obj), path, seen, found)
    return found


def test_gpu_trained_model_holds_nothing_on_the_gpu(pair):
    # A model trained on a GPU predicts, pickles and loads where there is none.
    assert _gpu_tensors(pair[1], "subtractor", set(), []) == []
    assert all(n.device == "cpu" for n in pair[1].regressor_.estimators_)


def test_gpu_trained_model_loads_and_predicts_without_a_gpu(pair, synthetic, tmp_path):
    gpu = pair[1]
    path = tmp_path / "gpu_model.pkl"
    path.write_bytes(pickle.dumps(gpu))
    data = tmp_path / "spectra.npy"
    np.save(data, synthetic.spectra)
    script = (
        "import pickle, sys, numpy as np, torch\n"
        "assert not torch.cuda.is_available()\n"
        "model = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "np.save(sys.argv[3], model.transform(np.load(sys.argv[2])))\n"
    )
    out = tmp_path / "out.npy"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [sys.executable, "-c", script, str(path), str(data), str(out)],
        check=True,
        env=env,
        timeout=300,
    )
    np.testing.assert_allclose(np.load(out), gpu.transform(synthetic.spectra), rtol=1e-6)


def test_gpu_fit_is_reproducible(synthetic):
    X = np.column_stack([synthetic.energy, np.ones_like(synthetic.energy)])
    y = synthetic.spectra[0]
    params = dict(n_replicas=6, max_epochs=80, random_state=1, device="cuda")
    a = ZLPEnsembleRegressor(**params).fit(X, y).transform(X)
    b = ZLPEnsembleRegressor(**params).fit(X, y).transform(X)
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_cuda_device_index_is_accepted(synthetic):
    X = np.column_stack([synthetic.energy, np.ones_like(synthetic.energy)])
    reg = ZLPEnsembleRegressor(n_replicas=2, max_epochs=20, random_state=0, device="cuda:0")
    assert reg.fit(X, synthetic.spectra[0]).n_replicas_ == 2
