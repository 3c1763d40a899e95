"""A fitted :class:`~sklearn_zlp.ensemble._net.ReplicaNet` in a model file, and back.

Written: the net's constructor parameters (numbers, strings, arrays), its
callbacks as (name, kind, parameters) for the kinds the ensemble uses, every
weight and bias of its :class:`~sklearn_zlp.nn.ReplicaMLP` as a float32 array
(the module's ``state_dict``, flattened to named arrays), and the attributes the
ensemble set on it (each replica's first and last chi^2). Not written: skorch's
training history and the optimizer's moments, which predictions never use (as
with ``checkpoint_dir``); a loaded net predicts bitwise as the saved one did.

Read: the net is built from those parameters, initialised (``initialize``, which
builds the module, a fresh optimizer and the callbacks), and given the stored
weights with ``load_state_dict(strict=True)`` after their names, shapes and
dtypes are checked against the module's. Classes come from the fixed tables
below, never from a name in the file.
"""

__all__ = ["decode_net", "encode_net"]

# skorch's own bookkeeping, rebuilt by initialize(); the history is not kept.
_SKORCH_STATE = frozenset(
    {
        "history_",
        "initialized_",
        "virtual_params_",
        "init_context_",
        "prefixes_",
        "cuda_dependent_attributes_",
        "module_",
        "criterion_",
        "optimizer_",
        "callbacks_",
        "_modules",
        "_criteria",
        "_optimizers",
        "_params_to_validate",
    }
)


def _fixed_classes():
    """Constructor parameters that must be these classes (skorch's and ours)."""
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from ..ensemble._net import ReplicaChi2Loss
    from ..nn import ReplicaAdam, ReplicaMLP

    return {
        "module": ReplicaMLP,
        "criterion": ReplicaChi2Loss,
        "optimizer": ReplicaAdam,
        "iterator_train": DataLoader,
        "iterator_valid": DataLoader,
        "dataset": Dataset,
    }


def _callback_classes():
    from skorch.callbacks import LRScheduler

    from ..ensemble._net import ReplicaLookBack

    # The callbacks a fitted ensemble's nets keep (a progress display is removed
    # when training ends).
    return {"ReplicaLookBack": ReplicaLookBack, "LRScheduler": LRScheduler}


def _lr_policies():
    from torch.optim.lr_scheduler import CosineAnnealingLR

    return {"CosineAnnealingLR": CosineAnnealingLR}


def _net_parameters():
    """Names of the plain (non-class) constructor parameters a file may set."""
    import inspect

    from skorch import NeuralNet

    from ..nn import ReplicaMLP

    names = set(inspect.signature(NeuralNet.__init__).parameters) - {"self", "kwargs"}
    module = set(inspect.signature(ReplicaMLP.__init__).parameters) - {"self"}
    return (names - set(_fixed_classes()) - {"train_split", "callbacks"}) | {
        *(f"module__{name}" for name in module),
        "callbacks__print_log",
    }


def _default_split(value):
    from skorch.dataset import ValidSplit

    # ReplicaNet never splits (validation weights come with the data): only the
    # default is written, and only it is rebuilt.
    return type(value) is ValidSplit and vars(value) == vars(ValidSplit(5))


def encode_net(writer, net, path):
    """JSON node of a fitted ReplicaNet (``writer`` is a StateWriter)."""
    params = net.get_params(deep=False)
    fixed = _fixed_classes()
    plain = _net_parameters()
    simple = {}
    for key, value in params.items():
        if key in fixed:
            if value is not fixed[key]:
                writer.refuse(value, f"{path}.{key}", f" (not {fixed[key].__name__})")
        elif key == "train_split":
            if not _default_split(value):
                writer.refuse(value, f"{path}.{key}", " (not skorch's default split)")
        elif key == "callbacks":
            simple[key] = _encode_callbacks(writer, value, f"{path}.{key}")
        elif key in plain:
            simple[key] = writer.encode(value, f"{path}.{key}")
        elif key != "_params_to_validate":
            writer.refuse(value, f"{path}.{key}", " (a network parameter not known here)")
    weights = {
        name: writer.array(tensor.detach().cpu().numpy().copy(), f"{path}.module_.{name}")
        for name, tensor in net.module_.state_dict().items()
    }
    extra = {
        key: writer.encode(value, f"{path}.{key}")
        for key, value in vars(net).items()
        if key not in params and key not in _SKORCH_STATE
    }
    return {"$type": "replica_net", "params": simple, "weights": weights, "extra": extra}


def _encode_callbacks(writer, callbacks, path):
    known = _callback_classes()
    policies = {cls: name for name, cls in _lr_policies().items()}
    out = []
    for i, item in enumerate(callbacks or []):
        where = f"{path}[{i}]"
        if type(item) is not tuple or len(item) != 2 or not isinstance(item[0], str):
            writer.refuse(item, where, " (not a (name, callback) pair)")
        name, cb = item
        kind = type(cb).__name__
        if known.get(kind) is not type(cb):
            writer.refuse(cb, where)
        cb_params = cb.get_params(deep=False)
        if not _as_initialized(cb, cb_params):  # state of a callback: not ours to drop
            writer.refuse(cb, where, " (a callback with state from training)")
        if kind == "LRScheduler":
            policy = cb_params["policy"]
            if policy not in policies:
                writer.refuse(policy, f"{where}.policy")
            cb_params = {**cb_params, "policy": policies[policy]}
        encoded = {k: writer.encode(v, f"{where}.{k}") for k, v in cb_params.items()}
        out.append({"name": name, "kind": kind, "params": encoded})
    return out


def _as_initialized(cb, params):
    """Whether ``cb`` holds nothing but its parameters and what ``initialize`` sets."""
    from sklearn.base import clone

    fresh = vars(clone(cb).initialize())
    state = {k: v for k, v in vars(cb).items() if k not in params}
    return all(
        k in fresh
        and (v is fresh[k] or (type(v) in (bool, int, float, str) and v == fresh[k]))
        for k, v in state.items()
    )


def decode_net(reader, node, path):
    """The ReplicaNet of a ``"replica_net"`` node (``reader`` is a StateReader)."""
    import torch

    from ..ensemble._net import ReplicaNet

    params, weights, extra = reader._fields(node, path, "params", "weights", "extra")
    if not all(type(x) is dict for x in (params, weights, extra)):
        reader.damaged(path, "is not a network's parameters and weights")
    unknown = set(params) - _net_parameters() - {"callbacks"}
    if unknown:
        reader.damaged(path, f"sets the unknown network parameters {sorted(unknown)}")
    values = {
        k: reader.decode(v, f"{path}.{k}") for k, v in params.items() if k != "callbacks"
    }
    callbacks = _decode_callbacks(reader, params.get("callbacks"), f"{path}.callbacks")
    fixed = {k: v for k, v in _fixed_classes().items() if k != "module"}
    try:
        net = ReplicaNet(_fixed_classes()["module"], **fixed, **values, callbacks=callbacks)
        net.initialize()
    except (TypeError, ValueError) as exc:
        reader.damaged(path, f"does not build a network ({exc})")
    state = net.module_.state_dict()
    stored = {}
    for name, member in weights.items():
        array = reader._array_member(member, f"{path}.module_.{name}")
        stored[name] = torch.from_numpy(array)
    layout = {k: (tuple(t.shape), t.dtype) for k, t in state.items()}
    if {k: (tuple(t.shape), t.dtype) for k, t in stored.items()} != layout:
        reader.damaged(path, "holds weights that do not fit its network")
    net.module_.load_state_dict(stored, strict=True)
    for key, value in extra.items():
        if not key.isidentifier() or key in _SKORCH_STATE or key in params:
            reader.damaged(path, f"sets the attribute {key!r}")
        setattr(net, key, reader.decode(value, f"{path}.{key}"))
    return net


def _decode_callbacks(reader, items, path):
    if type(items) is not list:
        reader.damaged(path, "is not a list of callbacks")
    known = _callback_classes()
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if type(item) is not dict or set(item) != {"name", "kind", "params"}:
            reader.damaged(where, "is not a callback")
        cls = known.get(item["kind"])
        if cls is None or type(item["params"]) is not dict:
            reader.damaged(where, f"is the unknown callback {item['kind']!r}")
        cb_params = {k: reader.decode(v, f"{where}.{k}") for k, v in item["params"].items()}
        if item["kind"] == "LRScheduler":
            policy = _lr_policies().get(cb_params.get("policy"))
            if policy is None:
                reader.damaged(where, f"has the unknown policy {cb_params.get('policy')!r}")
            cb_params["policy"] = policy
        try:
            out.append((str(item["name"]), cls(**cb_params)))
        except TypeError as exc:
            reader.damaged(where, f"does not build ({exc})")
    return out
