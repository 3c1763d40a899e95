"""Checkpoints of trained replica groups: NumPy ``.npz`` arrays plus JSON.

Each group of replicas that finishes training (a chunk of the first round or a
group of restarts) is written at once, from inside the worker that trained it,
so an interrupted fit keeps every finished group on disk. A later fit whose
group has the same fingerprint loads it instead of training it again.

Loading executes no code: the arrays are read with ``allow_pickle=False`` and
the metadata is JSON. A file is used only if its JSON names the fingerprint the
fit asked for, the versions of sklearn-zlp, torch and skorch it was written with
match the running ones, the SHA-256 of its ``.npz`` matches the one recorded at
writing, and its arrays have the shapes the network needs. Anything else is
ignored with a warning (and overwritten by the retrained group).

The file name is a hash of the group's training problem (inputs, pseudo-data,
weights, penalty pairs, seeds and training parameters); the versions are not
part of the name but of the fingerprint checked inside, so that a checkpoint
written by another version is found, reported as stale and replaced.
"""

import hashlib
import json
import os
import tempfile
import warnings

import numpy as np

from . import _training

__all__ = ["UNRESUMABLE", "CheckpointStore", "fit_group", "restore_group"]

UNRESUMABLE = (
    "checkpoint_dir is set but random_state=None draws new replica seeds on every "
    "fit, so no later fit can resume from these checkpoints; pass an int "
    "random_state to resume."
)
FORMAT_VERSION = 1
_PREFIX = "zlp-replicas-"
_LOSSES = ("best_epoch", "best_loss", "first_loss", "last_loss")


def _versions():
    import skorch
    import torch

    from .. import __version__

    return {
        "sklearn_zlp": __version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
    }


def array_digest(array):
    """SHA-256 of an array's dtype, shape and bytes (hex)."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    return h.hexdigest()


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CheckpointStore:
    """A directory of finished replica groups (see the module notes).

    Parameters
    ----------
    directory : str or path-like
        Created if missing.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def key(self, arrays, params):
        """Fingerprint of one group's training problem (hex SHA-256).

        ``arrays`` maps names to arrays or precomputed digests (str) or None;
        ``params`` is JSON-serialisable.
        """
        h = hashlib.sha256(f"sklearn-zlp replicas v{FORMAT_VERSION}".encode())
        for name in sorted(arrays):
            value = arrays[name]
            digest = (
                "none"
                if value is None
                else value
                if isinstance(value, str)
                else array_digest(value)
            )
            h.update(f"{name}={digest};".encode())
        h.update(json.dumps(params, sort_keys=True).encode())
        return h.hexdigest()

    def _paths(self, key):
        base = os.path.join(self.directory, f"{_PREFIX}{key[:40]}")
        return base + ".npz", base + ".json"

    def save(self, key, result):
        """Write one group's result (the return value of ``fit_chunk``), atomically."""
        net, best_epoch, best_loss, n_epochs = result
        arrays = {
            f"param_{i}": p.detach().cpu().numpy()
            for i, p in enumerate(net.module_.parameters())
        }
        arrays.update(
            best_epoch=np.asarray(best_epoch),
            best_loss=np.asarray(best_loss),
            first_loss=np.asarray(net.replica_first_loss_),
            last_loss=np.asarray(net.replica_last_loss_),
        )
        os.makedirs(self.directory, exist_ok=True)
        npz_path, json_path = self._paths(key)
        # Write to a temporary name and rename: a reader never sees half a file,
        # and the JSON (written last) marks the group complete.
        self._atomic(npz_path, lambda f: np.savez(f, **arrays))
        meta = {
            "format": FORMAT_VERSION,
            "key": key,
            "versions": _versions(),
            "n_epochs": int(n_epochs),
            "n_parameters": sum(1 for name in arrays if name.startswith("param_")),
            "npz_sha256": _file_digest(npz_path),
        }
        self._atomic(json_path, lambda f: f.write(json.dumps(meta, indent=1).encode()))

    def _atomic(self, path, write):
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def load(self, key):
        """The arrays and epoch count stored under ``key``, or None.

        None when nothing is stored; also None, with a warning, when a file is
        there but foreign (another fingerprint), stale (other versions) or
        corrupt.
        """
        npz_path, json_path = self._paths(key)
        if not os.path.exists(json_path):
            if os.path.exists(npz_path):
                self._ignore(npz_path, "has no JSON metadata (the write did not finish)")
            return None
        try:
            with open(json_path, encoding="utf-8") as f:
                meta = json.load(f)
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            return self._ignore(json_path, f"is not readable JSON ({exc})")
        if meta.get("format") != FORMAT_VERSION:
            return self._ignore(
                json_path, f"has format {meta.get('format')!r}, not {FORMAT_VERSION}"
            )
        if meta.get("key") != key:
            return self._ignore(
                json_path, "belongs to another fit (its fingerprint differs)"
            )
        versions = _versions()
        if meta.get("versions") != versions:
            return self._ignore(
                json_path,
                f"is stale: written with {meta.get('versions')}, running {versions}",
            )
        try:
            if _file_digest(npz_path) != meta.get("npz_sha256"):
                return self._ignore(npz_path, "does not match its recorded SHA-256")
            with np.load(npz_path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError) as exc:  # zip and format errors
            return self._ignore(npz_path, f"cannot be read ({exc})")
        n_params = meta.get("n_parameters")
        expected = {*_LOSSES, *(f"param_{i}" for i in range(int(n_params or 0)))}
        if (
            not isinstance(n_params, int)
            or set(arrays) != expected
            or not isinstance(meta.get("n_epochs"), int)
            or any(a.dtype.kind not in "fiu" for a in arrays.values())
        ):
            return self._ignore(npz_path, "does not hold the arrays of a replica group")
        return {
            "params": [arrays[f"param_{i}"] for i in range(n_params)],
            "n_epochs": meta["n_epochs"],
            **{name: arrays[name] for name in _LOSSES},
        }

    def reject(self, key, reason):
        """Warn that the checkpoint stored under ``key`` is not used, and why."""
        return self._ignore(self._paths(key)[0], reason)

    @staticmethod
    def _ignore(path, reason):
        warnings.warn(
            f"checkpoint {path} {reason}; ignoring it and training these replicas "
            "again (the file will be replaced).",
            UserWarning,
            stacklevel=4,
        )
        return None


def fit_group(store, key, args, kwargs):
    """Train one group with ``fit_chunk`` and checkpoint it (a joblib worker).

    ``fit_chunk`` is looked up on its module at call time, so tests can replace it.
    """
    result = _training.fit_chunk(*args, **kwargs)
    if store is not None:
        store.save(key, result)
    return result


def restore_group(stored, args, kwargs):
    """Rebuild ``fit_chunk``'s result from stored arrays, or None if they do not fit.

    The net is built exactly as ``fit_chunk`` builds it, trained for zero epochs,
    and given the stored weights; it predicts bitwise as the trained one did. Its
    history is empty and its optimizer is fresh (``n_epochs`` is the stored one).
    """
    import torch

    net = _training.fit_chunk(*args, **{**kwargs, "max_epochs": 0})[0]
    params = list(net.module_.parameters())
    n_replicas = args[1].shape[0]
    if len(params) != len(stored["params"]) or any(
        tuple(p.shape) != a.shape or torch.from_numpy(a).dtype != p.dtype
        for p, a in zip(params, stored["params"], strict=False)
    ):
        return None
    if any(stored[name].shape != (n_replicas,) for name in _LOSSES):
        return None
    with torch.no_grad():
        for p, a in zip(params, stored["params"], strict=True):
            p.copy_(torch.from_numpy(a))
    net.replica_first_loss_ = stored["first_loss"]
    net.replica_last_loss_ = stored["last_loss"]
    return net, stored["best_epoch"], stored["best_loss"], stored["n_epochs"]
