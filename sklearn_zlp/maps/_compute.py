"""Per-pixel maps of a spectrum image: t/lambda, E_bg and b with bands and statuses.

The image streams through :meth:`ZLPSubtractor.subtract_batches` one batch of
pixels at a time; each batch's replicas are reduced to the maps' numbers at
once and dropped, so memory is bounded by a batch whatever the image's size
(never n_replicas x n_pixels x n_channels). A dask array is mapped block by
block (:func:`dask.array.map_blocks` over the navigation chunks) and stays lazy
until computed, on the threads of this process or on a ``dask.distributed``
cluster: every pixel's numbers depend only on the fitted subtractor, that
pixel's spectrum and ``random_state``, so any chunking gives the same maps.
"""

import numpy as np

from .._replicas import replica_band
from .._status import OK, register_status, statuses
from ..physics import fit_band_gap
from ..preprocessing._peak import shared_peaks
from ..subtraction._result import ZLPSubtractionResult

__all__ = ["FIELDS", "NOT_COMPUTED", "STATUS_FIELDS", "block_maps", "status_names"]

NOT_COMPUTED = register_status(
    "not_computed",
    "the estimate was not asked for (e.g. spectral_maps(..., band_gap=False)): its "
    "value is NaN.",
)

# Pixels of consecutive batches whose band gaps are fitted in one call (their
# subtracted replicas held meanwhile: 8 x 100 x 64 x 1024 bytes, 52 MB, twice
# while joined). spectral_maps per 100-replica pixel of 1024 channels, one
# core, side by side (pixels a call / rows a fit call): 13.5-13.8 ms at 32 /
# 3072, 12.8-13.0 at 64 / 12288, 12.4-12.8 at 128 / 12288.
_FIT_PIXELS = 64

# Numbers per pixel, in the order of the last axis of the packed array.
VALUE_FIELDS = (
    "t_over_lambda",
    "t_over_lambda_low",
    "t_over_lambda_high",
    "e_bg",
    "e_bg_low",
    "e_bg_high",
    "b",
    "b_low",
    "b_high",
    "p_indirect",
    "de1",
    "de2",
    "cluster",
)
# Statuses per pixel, packed as the index of the name in status_names().
STATUS_FIELDS = ("status", "t_over_lambda_status", "e_bg_status")
FIELDS = VALUE_FIELDS + STATUS_FIELDS


def status_names():
    """Every status the package can return, in a fixed order (index = code)."""
    names = sorted(statuses())
    names.remove(OK)
    return [OK, *names]


def _codes(values, names):
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.float64)


def block_maps(subtractor, spectra, options):
    """Packed maps of a block of pixels: shape (n_pixels, len(FIELDS)).

    ``spectra`` (n_pixels, n_channels) are aligned spectra on the subtractor's
    axis. ``options`` holds ``band_gap`` (bool), ``band_gap_kwargs`` (dict for
    :func:`fit_band_gap`) and ``confidence_level``.
    """
    spectra = np.asarray(spectra, dtype=np.float64)
    n = spectra.shape[0]
    names = status_names()
    out = np.full((n, len(FIELDS)), np.nan)
    col = {name: i for i, name in enumerate(FIELDS)}
    if n == 0:
        return out
    regions = subtractor.regions_
    if regions is not None and regions.get_params()["per"] == "cluster":
        out[:, col["cluster"]] = regions.clusterer_.predict(spectra)
    with shared_peaks():  # validation and every batch search the peaks once
        _fill(out, col, names, subtractor, spectra, options)
    return out


def _fill(out, col, names, subtractor, spectra, options):
    """Write every batch's numbers into ``out`` (see :func:`block_maps`).

    The band gaps of consecutive batches are fitted together, at least
    ``_FIT_PIXELS`` pixels a call: the fits of many spectra share their
    iterations (:mod:`sklearn_zlp.physics._bandgap_batch`), and a pixel's fit
    does not depend on the pixels fitted with it.
    """
    level = options["confidence_level"]
    pending = []
    # only the subtracted replicas: the ZLP is matched and subtracted in place
    for batch in subtractor._batch_results(spectra, level, cubes=()):
        rows = batch.rows
        out[rows, col["t_over_lambda"]] = batch.t_over_lambda
        out[rows, col["t_over_lambda_low"]] = batch.t_over_lambda_band[0]
        out[rows, col["t_over_lambda_high"]] = batch.t_over_lambda_band[1]
        out[rows, col["de1"]] = batch.de1
        out[rows, col["de2"]] = batch.de2
        out[rows, col["status"]] = _codes(batch.status, names)
        out[rows, col["t_over_lambda_status"]] = _codes(batch.t_over_lambda_status, names)
        if not options["band_gap"]:
            out[rows, col["e_bg_status"]] = names.index(NOT_COMPUTED)
            continue
        # what the fit reads: not the batch's ZLP cubes
        pending.append(
            (
                np.arange(spectra.shape[0])[rows],
                {k: getattr(batch, k) for k in ("spectra", "de0", "de1", "de2")},
                batch.subtracted,
            )
        )
        if sum(p[0].size for p in pending) >= _FIT_PIXELS:
            _band_gaps(out, col, names, subtractor, pending, options)
            pending = []
    if pending:
        _band_gaps(out, col, names, subtractor, pending, options)


def _band_gaps(out, col, names, subtractor, pending, options):
    """Fit the band gaps of the pending batches' pixels and write them into ``out``."""
    rows = np.concatenate([p[0] for p in pending])
    cube = np.concatenate([p[2] for p in pending], axis=1)
    # the batches joined as one result: fit_band_gap reads its replicas (no
    # copy) and takes the counting noise of its recorded spectra
    joined = ZLPSubtractionResult(
        energy=subtractor.energy_axis_,
        **{
            k: np.concatenate([p[1][k] for p in pending])
            for k in ("spectra", "de0", "de1", "de2")
        },
        n_replicas=cube.shape[0],
        rows=rows,
        replicas={"subtracted": cube},
    )
    pending.clear()
    gap = fit_band_gap(
        subtractor.energy_axis_,
        joined,
        read_noise=subtractor.read_noise_,
        **options["band_gap_kwargs"],
    )
    level = options["confidence_level"]
    if level != 0.68:
        good = (gap.replica_status == OK) & (gap.status == OK)[None, :]
        e_band = replica_band(np.where(good, gap.e_bg, np.nan), level, nan_policy="omit")
        b_band = replica_band(np.where(good, gap.b, np.nan), level, nan_policy="omit")
    else:
        e_band, b_band = gap.e_bg_band, gap.b_band
    out[rows, col["e_bg"]] = gap.e_bg_median
    out[rows, col["e_bg_low"]], out[rows, col["e_bg_high"]] = e_band
    out[rows, col["b"]] = gap.b_median
    out[rows, col["b_low"]], out[rows, col["b_high"]] = b_band
    out[rows, col["p_indirect"]] = gap.p_indirect
    out[rows, col["e_bg_status"]] = _codes(gap.status, names)
