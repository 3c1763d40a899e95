"""An estimator's state as a tree of JSON nodes plus NumPy arrays, and back.

The state of an estimator is its ``__dict__``: the constructor parameters and
everything ``fit`` stored (attributes ending in ``_``, private ones included).
:class:`StateWriter` turns it into JSON, putting every array aside as a member
of the model file; :class:`StateReader` rebuilds it. Only these values are
written, each as itself or as a JSON object with a ``"$type"`` key:

=================  ==================================================================
value              JSON
=================  ==================================================================
None, bool, str    itself
int, float         itself; NaN and infinities as ``{"$type": "float", "value": "nan"}``
list               a JSON array
tuple, dict        ``{"$type": "tuple", "items": [...]}``, ``"dict"`` with key-value pairs
ndarray            ``{"$type": "array", "member": "arrays/0003-....npy"}``: numeric,
                   bool or str dtype, written by ``numpy.save(allow_pickle=False)``;
                   an object array of such values as ``"object_array"`` (shape, items)
NumPy scalar       ``{"$type": "scalar", "dtype": "<f8", "value": ...}``
torch tensor       ``"tensor"`` with an array member (read with ``torch.from_numpy``)
RandomState        ``"random_state"`` with its ``get_state()`` (a Mersenne Twister state)
path               ``"path"`` with its string
estimator          ``{"$type": "estimator", "class": "sklearn_zlp.ZLPRegionMask",
                   "state": {...}}`` for the classes of :data:`CLASSES` only
fitted network     ``"replica_net"``: a :class:`~sklearn_zlp.ensemble._net.ReplicaNet`
                   as its parameters and weights (:mod:`._model_nets`)
=================  ==================================================================

Anything else is refused at writing, with the path of the attribute that holds
it, rather than dropped: a model file holds all of an estimator's state or none.
Reading builds values from this table alone: a class is looked up by its name in
:data:`CLASSES`, never imported by a name the file gives.
"""

import importlib
import math
import pathlib
import re
import sys

import numpy as np

__all__ = ["CLASSES", "ModelFileError", "StateReader", "StateWriter", "class_name"]

# Public name in a file -> (module, attribute): the only classes a file can name.
CLASSES = {
    "sklearn_zlp.ZLPEnsembleRegressor": ("sklearn_zlp.ensemble", "ZLPEnsembleRegressor"),
    "sklearn_zlp.ZLPSubtractor": ("sklearn_zlp.subtraction", "ZLPSubtractor"),
    "sklearn_zlp.ZeroLossAligner": ("sklearn_zlp.preprocessing", "ZeroLossAligner"),
    "sklearn_zlp.ZLPRegionMask": ("sklearn_zlp.preprocessing", "ZLPRegionMask"),
    "sklearn_zlp.ThicknessClusterer": ("sklearn_zlp.preprocessing", "ThicknessClusterer"),
    "sklearn_zlp.EnergyWindow": ("sklearn_zlp.preprocessing", "EnergyWindow"),
    # held by ThicknessClusterer (its k-means) and by pipelines of the above
    "sklearn.cluster.KMeans": ("sklearn.cluster", "KMeans"),
    "sklearn.pipeline.Pipeline": ("sklearn.pipeline", "Pipeline"),
}
_ARRAY_KINDS = "biufcU"  # bool, integers, floats, complex, str: no pickle needed


class ModelFileError(ValueError):
    """A model file that cannot be loaded: foreign, tampered, damaged or too new.

    Raised by :func:`sklearn_zlp.load_model`; the message says which, and what to do.
    """


def class_name(cls):
    """The name under which ``cls`` is stored, or None if model files cannot hold it."""
    for name, (module, attr) in CLASSES.items():
        # compare without importing: a class of a module not yet imported is not cls
        if cls.__name__ == attr and getattr(sys.modules.get(module), attr, None) is cls:
            return name
    return None


def resolve_class(name):
    """The class stored as ``name``; ModelFileError for any name not in CLASSES."""
    if not isinstance(name, str) or name not in CLASSES:
        raise ModelFileError(
            f"the model file names the class {name!r}, which sklearn-zlp does not load "
            f"(it loads {', '.join(sorted(CLASSES))}); the file was edited or written "
            "by other software: do not use it."
        )
    module, attr = CLASSES[name]
    return getattr(importlib.import_module(module), attr)


def _is_torch_tensor(value):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _float_json(value):
    return value if math.isfinite(value) else {"$type": "float", "value": repr(value)}


class StateWriter:
    """Encodes values as JSON nodes; arrays are collected in :attr:`arrays`.

    Attributes
    ----------
    arrays : dict of str to ndarray
        Member name (``arrays/NNNN-<path>.npy``) -> array, in the order met.
    """

    def __init__(self):
        self.arrays = {}

    def array(self, array, path):
        """Put ``array`` aside as a member; returns its name."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", path)[-60:]
        name = f"arrays/{len(self.arrays):04d}-{slug}.npy"
        self.arrays[name] = array
        return name

    def refuse(self, value, path, why=""):
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        raise TypeError(
            f"cannot save {path}: it is a {kind}{why}, which a sklearn-zlp model file "
            "cannot hold (None, bool, int, float, str, lists, tuples, dicts, NumPy "
            "arrays and scalars of numbers or text, sklearn-zlp estimators and their "
            "fitted networks); use pickle or joblib for such a model."
        )

    def encode(self, value, path):
        """JSON node of ``value``; ``path`` names it in errors (e.g. ``est.regressor_``)."""
        kind = type(value)
        if value is None or kind in (bool, str, int):
            return value
        if kind is float:
            return _float_json(value)
        if kind is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind is tuple:
            items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return {"$type": "tuple", "items": items}
        if kind is dict:
            items = [
                [self.encode(k, f"{path} key {k!r}"), self.encode(v, f"{path}[{k!r}]")]
                for k, v in value.items()
            ]
            return {"$type": "dict", "items": items}
        if kind in (np.ndarray, np.memmap):
            return self._array(value, path)
        if isinstance(value, np.generic):
            return self._scalar(value, path)
        if kind is np.random.RandomState:
            state = self.encode(value.get_state(legacy=True), f"{path}.get_state()")
            return {"$type": "random_state", "state": state}
        if isinstance(value, pathlib.PurePath):
            return {"$type": "path", "value": str(value)}
        if _is_torch_tensor(value):
            if value.requires_grad:
                value = value.detach()
            return {"$type": "tensor", "member": self.array(value.cpu().numpy(), path)}
        name = class_name(kind)
        if name is not None:
            state = {k: self.encode(v, f"{path}.{k}") for k, v in vars(value).items()}
            return {"$type": "estimator", "class": name, "state": state}
        if kind.__name__ == "ReplicaNet" and kind.__module__ == "sklearn_zlp.ensemble._net":
            from ._model_nets import encode_net

            return encode_net(self, value, path)
        return self.refuse(value, path)

    def _array(self, value, path):
        dtype = value.dtype
        if dtype.kind == "O":
            items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value.flat)]
            return {"$type": "object_array", "shape": list(value.shape), "items": items}
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype:
            return self.refuse(value, path, f" of dtype {dtype}")
        return {"$type": "array", "member": self.array(np.asarray(value), path)}

    def _scalar(self, value, path):
        dtype = value.dtype
        if dtype.kind not in _ARRAY_KINDS:
            return self.refuse(value, path)
        if dtype.kind in "bi" or dtype.kind == "u":
            item = int(value)
        elif dtype.kind == "f":
            item = _float_json(float(value))  # repr of a float64 is exact
        elif dtype.kind == "c":
            item = [_float_json(float(value.real)), _float_json(float(value.imag))]
        else:
            item = str(value)
        return {"$type": "scalar", "dtype": dtype.str, "value": item}


class StateReader:
    """Decodes JSON nodes written by :class:`StateWriter`.

    Parameters
    ----------
    load_array : callable
        ``load_array(member_name)`` -> the ndarray stored as that member (the
        caller reads it with ``allow_pickle=False`` after checking its hash).
    """

    def __init__(self, load_array):
        self.load_array = load_array

    @staticmethod
    def damaged(path, what):
        raise ModelFileError(
            f"the model file is tampered or damaged: {path} {what}; save the model "
            "again from its source, or use another copy."
        )

    def _fields(self, node, path, *names):
        if set(node) != {"$type", *names}:
            self.damaged(path, f"has the fields {sorted(node)}, not {sorted(names)}")
        return [node[n] for n in names]

    def decode(self, node, path):
        """The value of ``node`` (see the module notes)."""
        if node is None or type(node) in (bool, str, int, float):
            return node
        if type(node) is list:
            return [self.decode(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if type(node) is not dict or not isinstance(node.get("$type"), str):
            return self.damaged(path, "is not a value sklearn-zlp writes")
        decode = getattr(self, f"_decode_{node['$type']}", None)
        if decode is None:
            return self.damaged(path, f"has the unknown type {node['$type']!r}")
        return decode(node, path)

    def _list(self, items, path):
        if type(items) is not list:
            self.damaged(path, "holds no list of items")
        return [self.decode(v, f"{path}[{i}]") for i, v in enumerate(items)]

    def _decode_float(self, node, path):
        (value,) = self._fields(node, path, "value")
        if value not in ("nan", "inf", "-inf"):
            self.damaged(path, f"is the float {value!r}")
        return float(value)

    def _decode_tuple(self, node, path):
        return tuple(self._list(*self._fields(node, path, "items"), path))

    def _decode_dict(self, node, path):
        pairs = self._list(*self._fields(node, path, "items"), path)
        try:
            if any(type(p) is not list or len(p) != 2 for p in pairs):
                raise TypeError
            return {k: v for k, v in pairs}
        except TypeError:
            return self.damaged(path, "is not a list of hashable key-value pairs")

    def _array_member(self, member, path):
        if not isinstance(member, str):
            self.damaged(path, "names no array member")
        array = self.load_array(member)
        if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
            self.damaged(path, f"is an array of dtype {array.dtype}")
        return array

    def _decode_array(self, node, path):
        return self._array_member(*self._fields(node, path, "member"), path)

    def _decode_object_array(self, node, path):
        shape, items = self._fields(node, path, "shape", "items")
        values = self._list(items, path)
        if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
            self.damaged(path, f"has the shape {shape!r}")
        if math.prod(shape) != len(values):
            self.damaged(path, f"has {len(values)} items for the shape {shape}")
        array = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):  # one by one: a list of lists would nest
            array[i] = v
        return array.reshape(shape)

    def _decode_scalar(self, node, path):
        dtype, value = self._fields(node, path, "dtype", "value")
        try:
            dtype = np.dtype(dtype)
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            return self.damaged(path, f"is a scalar of dtype {node['dtype']!r}")
        if dtype.kind == "c":
            parts = self._list(value, path)
            value = complex(*parts) if len(parts) == 2 else None
        else:
            value = self.decode(value, path)
        try:
            return np.array(value, dtype=dtype)[()]
        except (TypeError, ValueError, OverflowError):
            return self.damaged(path, f"holds {value!r}, not a {dtype}")

    def _decode_tensor(self, node, path):
        import torch

        array = self._array_member(*self._fields(node, path, "member"), path)
        if array.dtype.kind == "U":
            self.damaged(path, "is a tensor of text")
        return torch.from_numpy(np.ascontiguousarray(array))

    def _decode_random_state(self, node, path):
        (state,) = self._fields(node, path, "state")
        rng = np.random.RandomState()
        try:
            rng.set_state(self.decode(state, path))
        except (TypeError, ValueError):
            self.damaged(path, "is not the state of a RandomState")
        return rng

    def _decode_path(self, node, path):
        (value,) = self._fields(node, path, "value")
        if not isinstance(value, str):
            self.damaged(path, "is a path that is not a string")
        return pathlib.Path(value)

    def _decode_estimator(self, node, path):
        name, state = self._fields(node, path, "class", "state")
        cls = resolve_class(name)
        if type(state) is not dict or not all(
            isinstance(k, str) and k.isidentifier() for k in state
        ):
            self.damaged(path, "has no attribute table")
        values = {k: self.decode(v, f"{path}.{k}") for k, v in state.items()}
        missing = sorted(set(cls._get_param_names()) - set(values))
        if missing:
            raise ModelFileError(
                f"{path} lacks the parameters {missing} of {cls.__name__}: the file was "
                "written by an incompatible sklearn-zlp or edited; refit and save again."
            )
        # As unpickling does: a bare instance given its attributes (no __init__ runs).
        estimator = cls.__new__(cls)
        estimator.__dict__.update(values)
        return estimator

    def _decode_replica_net(self, node, path):
        from ._model_nets import decode_net

        return decode_net(self, node, path)
