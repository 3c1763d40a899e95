"""Model files: fitted estimators saved as JSON plus arrays, loaded without running code.

``est.save(path)`` writes a fitted sklearn-zlp estimator to one file (``.zlp`` is
the suggested extension; any name is kept as given) and
:func:`sklearn_zlp.load_model` reads it back. Pickle and joblib keep working as
for any scikit-learn estimator; a model file is for sharing and archiving, where
unpickling a file from elsewhere would run whatever code it holds.

Format (version 1): a zip archive, members written in this order::

    manifest.json        {"format": "sklearn-zlp model", "format_version": 1,
                          "class": "sklearn_zlp.ZLPSubtractor",
                          "versions": {"sklearn_zlp", "numpy", "scikit-learn",
                                       "torch", "python"},
                          "members": {name: {"sha256": hex, "size": bytes}}}
    state.json           the estimator's attributes as JSON (see
                         sklearn_zlp/io/_model_state.py for every kind of value)
    arrays/NNNN-<attribute path>.npy
                         every array, numpy.save(allow_pickle=False); network
                         weights are float32 arrays named after their attribute

Loading executes no code from the file: JSON is parsed, arrays are read with
``numpy.load(allow_pickle=False)``, and classes are taken from a fixed table of
sklearn-zlp estimators (plus scikit-learn's ``KMeans`` and ``Pipeline``), never
imported by a name the file gives; there is no pickle, no ``torch.load`` and no
``eval``. Before anything is decoded, the loader checks, in this order, and
raises a :class:`ModelFileError` (a ValueError) that says which:

- not a zip archive, or no ``manifest.json`` in it, or a manifest that is not
  sklearn-zlp's: "not a sklearn-zlp model file" (e.g. a pickle, given by mistake);
- a zip archive that cannot be read (a truncated copy): "damaged";
- ``format_version`` above this sklearn-zlp's: "written by a newer sklearn-zlp";
- a class outside the table: refused, without importing anything;
- a member missing, added, of another size, or whose SHA-256 differs from the
  manifest's, or a ``state.json`` that does not decode: "tampered or damaged".

The hashes catch damage and edits of the data; they are not a signature (anyone
can write a valid file). What makes loading safe is that nothing in the file is
executed. A file written by another version of sklearn-zlp or scikit-learn loads
with a UserWarning naming both versions: check its predictions.
"""

import hashlib
import io
import json
import os
import platform
import tempfile
import warnings
import zipfile

import numpy as np

from ._model_state import (
    CLASSES,
    ModelFileError,
    StateReader,
    StateWriter,
    class_name,
    resolve_class,
)

__all__ = ["FORMAT_VERSION", "ModelFileError", "load_model", "save_model"]

FORMAT_NAME = "sklearn-zlp model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_STATE = "state.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same model gives the same bytes


def _versions():
    import sklearn

    from .. import __version__

    torch = __import__("sys").modules.get("torch")
    return {
        "sklearn_zlp": __version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": None if torch is None else torch.__version__,
        "python": platform.python_version(),
    }


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def save_model(estimator, path):
    """Write a fitted estimator to a model file (see the module notes).

    Parameters
    ----------
    estimator : estimator
        A fitted ZLPEnsembleRegressor, ZLPSubtractor, ZeroLossAligner,
        ZLPRegionMask, ThicknessClusterer, EnergyWindow, or a Pipeline of them.
    path : str or path-like
        File to write (replaced atomically if it exists); ``.zlp`` is suggested.

    Returns
    -------
    path : str
        The file written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If it, or anything it holds, is not something a model file can hold
        (the message names the attribute); nothing is written then.
    """
    from sklearn.utils.validation import check_is_fitted

    name = class_name(type(estimator))
    if name is None:
        raise TypeError(
            f"cannot save a {type(estimator).__qualname__}: model files hold "
            f"{', '.join(sorted(CLASSES))}; use pickle or joblib for other objects."
        )
    check_is_fitted(estimator)
    writer = StateWriter()
    root = writer.encode(estimator, type(estimator).__name__)
    members = {_STATE: json.dumps(root, allow_nan=False).encode()}
    for member, array in writer.arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        members[member] = buffer.getvalue()
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": name,
        "versions": _versions(),
        "members": {
            m: {"sha256": _sha256(data), "size": len(data)} for m, data in members.items()
        },
    }
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    # A temporary file renamed into place: an interrupted save leaves no half
    # file, and an older model under the same name survives a failed one.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".zlp-part")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as archive:
            _write_member(archive, _MANIFEST, json.dumps(manifest, indent=1).encode())
            for member, data in members.items():
                _write_member(archive, member, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _write_member(archive, name, data):
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _foreign(path, why):
    return ModelFileError(
        f"{path} is not a sklearn-zlp model file ({why}); pass a file written by "
        "est.save(path). Pickle files are not read here: unpickling can run code."
    )


def _damaged(path, why):
    return ModelFileError(
        f"{path} is tampered or damaged ({why}); save the model again from its "
        "source, or use another copy."
    )


def _open(path):
    """The zip archive at ``path`` and its manifest, or a ModelFileError."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not zipfile.is_zipfile(path):
        if head == b"PK\x03\x04":  # a zip's first entry, but no readable directory
            raise _damaged(path, "a zip archive that cannot be read: truncated?")
        raise _foreign(path, "not a zip archive")
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
        if _MANIFEST not in names:
            raise _foreign(path, f"a zip archive without {_MANIFEST}")
        manifest = json.loads(archive.read(_MANIFEST))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise _damaged(path, f"the zip archive cannot be read: {exc}") from None
    except (ValueError, RecursionError):  # JSON (UnicodeDecodeError is a ValueError)
        raise _foreign(path, f"its {_MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise _foreign(path, f"its {_MANIFEST} is not sklearn-zlp's")
    if len(set(names)) != len(names):
        raise _damaged(path, "a member appears twice in the archive")
    return archive, manifest


def _check_manifest(path, manifest):
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise _damaged(path, f"format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer sklearn-zlp (model format {version}; "
            f"this sklearn-zlp reads format {FORMAT_VERSION} and older); upgrade "
            "sklearn-zlp to load it."
        )
    members = manifest.get("members")
    if (
        type(members) is not dict
        or _STATE not in members
        or not all(
            type(m) is dict
            and set(m) == {"sha256", "size"}
            and isinstance(m["sha256"], str)
            and type(m["size"]) is int
            for m in members.values()
        )
    ):
        raise _damaged(path, f"its {_MANIFEST} lists no members with hashes")
    return members


def load_model(path, *, expected=None):
    """Load an estimator saved with ``est.save(path)``, executing nothing from the file.

    Parameters
    ----------
    path : str or path-like
        A model file (see :mod:`sklearn_zlp.io` and the format notes in
        ``sklearn_zlp/io/_model_file.py``).
    expected : class or tuple of classes, default=None
        Raise a TypeError unless the stored estimator is one of these; checked
        before any array is read.

    Returns
    -------
    estimator : estimator
        The fitted estimator, predicting bitwise as the saved one did. Its
        networks carry their weights, not their training history or optimizer
        state.

    Raises
    ------
    ModelFileError
        A foreign, tampered, damaged or too new file (a ValueError; the
        message says which and what to do).
    TypeError
        The file holds another class than ``expected``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_zlp import ZLPEnsembleRegressor, load_model
    >>> E = np.linspace(-1, 1, 100)[:, None]
    >>> y = 1e5 * np.exp(-0.5 * (E[:, 0] / 0.2) ** 2) + 10
    >>> reg = ZLPEnsembleRegressor(n_replicas=4, max_epochs=100, random_state=0)
    >>> path = reg.fit(E, y).save(os.path.join(tempfile.mkdtemp(), "zlp.zlp"))
    >>> loaded = load_model(path, expected=ZLPEnsembleRegressor)
    >>> bool(np.array_equal(loaded.transform(E), reg.transform(E)))
    True
    """
    path = os.fspath(path)
    archive, manifest = _open(path)
    with archive:
        members = _check_manifest(path, manifest)
        cls = resolve_class(manifest.get("class"))
        if expected is not None and not issubclass(cls, expected):
            names = (
                [c.__name__ for c in expected]
                if isinstance(expected, tuple)
                else [expected.__name__]
            )
            raise TypeError(
                f"{path} holds a {cls.__name__}, not a {' or '.join(names)}; load it "
                f"with sklearn_zlp.load_model(path) or {cls.__name__}.load(path)."
            )
        stored = set(archive.namelist()) - {_MANIFEST}
        if stored != set(members):
            gone, extra = sorted(set(members) - stored), sorted(stored - set(members))
            raise _damaged(path, f"members missing: {gone}, not listed: {extra}")
        data = {name: _read_member(archive, path, name, members[name]) for name in members}
    reader = StateReader(lambda name: _load_array(path, data, name))
    try:
        root = json.loads(data[_STATE])
        estimator = reader.decode(root, cls.__name__)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ModelFileError):
            raise ModelFileError(f"{path}: {exc}") from None
        raise _damaged(path, f"{_STATE} does not decode: {exc}") from None
    if type(estimator) is not cls:
        raise _damaged(path, f"{_STATE} holds a {type(estimator).__name__}")
    _warn_versions(path, manifest.get("versions"))
    return estimator


def _read_member(archive, path, name, entry):
    info = archive.getinfo(name)
    if info.file_size != entry["size"]:
        raise _damaged(path, f"{name} has {info.file_size} bytes, not {entry['size']}")
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # CRC, truncation
        raise _damaged(path, f"{name} cannot be read: {exc}") from None
    if _sha256(data) != entry["sha256"]:
        raise _damaged(path, f"the SHA-256 of {name} differs from the manifest's")
    return data


def _load_array(path, data, name):
    if not name.startswith("arrays/") or name not in data:
        raise _damaged(path, f"{_STATE} refers to the missing array {name!r}")
    try:
        return np.load(io.BytesIO(data[name]), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _damaged(path, f"{name} is not a NumPy array file: {exc}") from None


def _warn_versions(path, versions):
    running = _versions()
    if not isinstance(versions, dict):
        return
    differ = [
        f"{k} {versions.get(k)} (running {running[k]})"
        for k in ("sklearn_zlp", "scikit-learn")
        if versions.get(k) != running[k]
    ]
    if differ:
        warnings.warn(
            f"{path} was written with {', '.join(differ)}; it loads, but check its "
            "predictions before relying on them.",
            UserWarning,
            stacklevel=3,
        )
