"""Input checks of the band-gap fit: the replica axis, b, the window, the ZLP response,
the running-mean widths and the background."""

import numpy as np

from .._validation import as_real_array, as_real_scalar
from ._onset_fit import B_BOUNDS, B_DIRECT, B_INDIRECT, BACKGROUNDS

__all__ = [
    "as_replica_array",
    "check_b",
    "check_background",
    "check_sigma",
    "check_smooth",
    "check_window",
    "is_subtraction_result",
    "unit_zlp",
]


def is_subtraction_result(spectra):
    """Whether ``spectra`` is a ZLPSubtractionResult (or a subtract_batches batch)."""
    # Looked up on the type: hasattr on the instance would compute the median
    # (a property) of every replica, 1.4 ms per 100-replica spectrum of 1024
    # channels; and not "subtracted", which raises for a result without replicas.
    kind = type(spectra)
    return hasattr(kind, "replicas_kept") and hasattr(kind, "subtracted_median")


def as_replica_array(spectra, replica_axis=None):
    """Spectra as (n_replicas, n_spectra, n_channels): the shape contract of fit_band_gap.

    1-D is one spectrum and 2-D spectra, both without replicas. Replicas are
    never guessed from the number of axes (a 3-D array may as well be a
    spectrum image): they come from ``replica_axis`` or from a subtraction
    result that kept them.
    """
    if is_subtraction_result(spectra):
        # ZLPSubtractor.subtract(X, keep_replicas=True) or a subtract_batches batch
        if not spectra.replicas_kept:
            raise ValueError(
                "this subtraction result holds no replicas; call "
                "ZLPSubtractor.subtract(X, keep_replicas=True) or use the batches of "
                "subtract_batches(X), or pass result.subtracted_median for the "
                "median spectra without replicas."
            )
        if replica_axis not in (None, 0):
            raise ValueError(
                "replica_axis does not apply to a subtraction result (its replicas "
                "are on axis 0 of result.subtracted); leave it None."
            )
        spectra, replica_axis = spectra.subtracted, 0
        # the result's own replicas, read and never written: a read-only view,
        # not a copy (a 100-replica batch of 64 spectra of 1024 channels is 52 MB)
        owned = isinstance(spectra, np.ndarray) and spectra.dtype == np.float64
    else:
        owned = False
    if owned:
        arr = spectra.view()
        arr.flags.writeable = False
    else:
        arr = as_real_array(spectra, name="spectra")
    if replica_axis is None:
        if arr.ndim == 1:
            arr = arr[None, None, :]
        elif arr.ndim == 2:
            arr = arr[None, :, :]
        else:
            raise ValueError(
                f"spectra of shape {arr.shape} is ambiguous: {arr.ndim}-D could be "
                "replicas x spectra x channels or a spectrum image (ny, nx, n_channels). "
                "For replicas pass replica_axis=0 (or the ZLPSubtractionResult of "
                "subtract(X, keep_replicas=True) itself); for an image pass "
                "image.reshape(-1, n_channels) and reshape the results with "
                "e_bg_median.reshape(ny, nx)."
            )
    else:
        if replica_axis not in (0, 1) or isinstance(replica_axis, bool):
            raise ValueError(
                f"replica_axis must be 0 or 1 (an axis before the channels), got "
                f"{replica_axis!r}."
            )
        if arr.ndim == 2 and replica_axis == 0:
            arr = arr[:, None, :]  # (n_replicas, n_channels): one spectrum's replicas
        elif arr.ndim == 3:
            arr = np.moveaxis(arr, replica_axis, 0)
        else:
            raise ValueError(
                f"with replica_axis={replica_axis}, spectra must have shape "
                "(n_replicas, n_spectra, n_channels) (or (n_spectra, n_replicas, "
                "n_channels) with replica_axis=1, (n_replicas, n_channels) for one "
                f"spectrum), got {arr.shape}. Flatten the navigation axes of a "
                "spectrum image first: replicas.reshape(n_replicas, -1, n_channels)."
            )
    if arr.size == 0:
        raise ValueError(f"spectra is empty (shape {arr.shape}); pass at least one.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            "spectra contain NaN or infinite values; remove or interpolate those "
            "channels before fitting the band gap."
        )
    return arr


def check_b(b):
    """b as a float in B_BOUNDS, or None."""
    if isinstance(b, str):
        if b not in ("direct", "indirect"):
            raise ValueError(
                f"b must be a number, 'direct', 'indirect' or None, got {b!r}."
            )
        return B_DIRECT if b == "direct" else B_INDIRECT
    if b is None:
        return None
    b = as_real_scalar(b, name="b")
    if not B_BOUNDS[0] <= b <= B_BOUNDS[1]:
        raise ValueError(f"b must lie in {B_BOUNDS}, got {b}.")
    return b


def check_window(window, energy):
    """(e_min, e_max) as floats inside the axis."""
    try:
        e_min, e_max = (as_real_scalar(v, name="window") for v in window)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"window must be a pair (e_min, e_max) of energies in eV, got {window!r}."
        ) from exc
    if not e_min < e_max:
        raise ValueError(f"window must be (e_min, e_max) with e_min < e_max, got {window}.")
    if e_min < energy[0] or e_max > energy[-1]:
        raise ValueError(
            f"window {window} eV lies outside the energy axis "
            f"[{energy[0]:.4g}, {energy[-1]:.4g}] eV."
        )
    return e_min, e_max


def unit_zlp(energy, zlp, shape):
    """Matched ZLPs as unit-area responses of shape ``shape``, validated once."""
    z = as_real_array(zlp, name="zlp")
    try:
        z = np.broadcast_to(z, shape)
    except ValueError as exc:
        raise ValueError(
            f"zlp of shape {z.shape} does not broadcast to the spectra's "
            f"(n_replicas, n_spectra, n_channels) = {shape}; pass the ZLP matched to "
            "every replica and spectrum, e.g. ZLPSubtractor.subtract(X).zlp."
        ) from exc
    if not np.all(np.isfinite(z)):
        raise ValueError("zlp contains NaN or infinite values.")
    z = np.clip(z, 0.0, None)
    total = z.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("zlp must have positive counts in every replica and spectrum.")
    if not energy[0] <= 0 <= energy[-1]:
        raise ValueError(
            f"zlp needs an energy axis that includes 0 eV (its peak); this one runs "
            f"from {energy[0]:.4g} to {energy[-1]:.4g} eV."
        )
    return z / total


def check_sigma(sigma, shape):
    """A given ``sigma`` (counts) checked and broadcast to the spectra's ``shape``."""
    sig = as_real_array(sigma, name="sigma")
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise ValueError("sigma must be finite and positive in every channel.")
    try:
        return np.broadcast_to(sig, shape)
    except ValueError as exc:
        raise ValueError(
            f"sigma of shape {sig.shape} does not broadcast to the spectra's "
            f"shape {shape}; pass one value, one per channel or one per value."
        ) from exc


def check_smooth(smooth):
    """``smooth`` as a tuple of positive widths in eV (one or more, tried in turn)."""
    values = np.atleast_1d(np.asarray(smooth, dtype=object))
    try:
        widths = tuple(as_real_scalar(v, name="smooth") for v in values.ravel())
    except (TypeError, ValueError):
        widths = ()
    if values.ndim != 1 or not widths or not all(np.isfinite(w) and w > 0 for w in widths):
        raise ValueError(
            f"smooth must be a positive width in eV or a sequence of them (tried in "
            f"turn), got {smooth!r}; e.g. smooth=0.2 or smooth=(0.2, 0.4)."
        )
    return widths


def check_background(background):
    if background not in BACKGROUNDS:
        raise ValueError(
            f"background must be one of {BACKGROUNDS}, got {background!r}: 'constant' "
            "fits a flat pedestal under the onset, 'linear' a sloped one, None none."
        )
    return background
