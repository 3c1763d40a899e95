"""Prediction over spectra in batches: model, matching, noise draws, subtraction.

A batch of ``b`` spectra holds ``(n_replicas, b, n_channels)`` float64 arrays
("cubes") while it is evaluated; replicas are reduced to medians and bands (or
kept, when asked for) before the next batch starts, so memory is bounded by
the batch, not by the number of spectra. Every step is computed spectrum by
spectrum (the networks evaluate each point on its own, the noise draws come
from each spectrum's own stream), so a spectrum's result does not depend on
the batch it is in, on ``batch_size`` or on the order of the spectra.
"""

from typing import NamedTuple

import numpy as np

from .._replicas import replica_median
from ..preprocessing._align import fwhm_of_validated
from ._extrapolation import anchor_energies, continue_tails
from ._hidden import hidden_inelastic
from ._inputs import covariate_table, normalisation
from ._matching import match_zlp, model_weight
from ._point_table import energy_feature, tail_law, tail_reference
from ._regions import matching_start, region_edges
from ._scatter import add_scatter
from ._uncertainty import add_noise_draws, noise_generator

__all__ = ["BatchReplicas", "batch_slices", "model_replicas", "subtract_batch"]


class BatchReplicas(NamedTuple):
    """Replica cubes of one batch, (n_replicas, b, n_channels) each (or None).

    ``t_over_lambda`` is (n_replicas, b): ln of each replica's total counts
    (with its draw of the data's noise) over its matched ZLP's, less its draw
    of the losses below dE_I that the matched ZLP holds (:mod:`._hidden`);
    ``hidden_t_over_lambda`` (n_replicas, b) is what that draw adds to it.
    """

    zlp_model: np.ndarray | None
    zlp: np.ndarray | None
    subtracted: np.ndarray | None
    de0: np.ndarray
    de1: np.ndarray
    de2: np.ndarray
    fwhm: np.ndarray
    covariates: np.ndarray
    t_over_lambda: np.ndarray
    hidden_t_over_lambda: np.ndarray


def batch_slices(n_spectra, batch_size):
    """Consecutive slices of at most ``batch_size`` spectra."""
    return [
        slice(s, min(s + batch_size, n_spectra)) for s in range(0, n_spectra, batch_size)
    ]


def model_replicas(est, data, matched_only=False):
    """Every replica's ZLP for every spectrum of ``data``, with what it rests on.

    Beyond the energies the networks were trained on (``trained_range_``) each
    replica's ZLP is continued as a power law (:mod:`._extrapolation`). With
    ``matched_only`` the channels below the batch's lowest dE_0, where the
    matched ZLP is the data and the model has no weight, are zero instead of
    evaluated (not with a mirrored gain side, whose model weight is |E|'s).

    Returns
    -------
    model : ndarray of shape (n_replicas, b, n_channels)
        In counts, a new array the caller may overwrite.
    fwhm, de1, de2 : ndarray of shape (b,)
        The spectra's ZLP widths and region edges.
    covariates : ndarray of shape (b, n_covariates)
    """
    spectra, energy = data.spectra, data.energy
    n_spectra, n_channels = spectra.shape
    fwhm = fwhm_of_validated(spectra, energy)
    de1, de2 = region_edges(est.regions_, est.mode, spectra, energy, est.read_noise_)
    covariates = covariate_table(data, est.covariates)
    norm = normalisation(spectra, energy, fwhm, est.normalize)
    anchors = anchor_energies(est.trained_range_, est.mode)
    first = 0  # the first channel evaluated
    if matched_only and est.gain_side != "model":
        de0 = matching_start(de1, fwhm, est.match_width)
        if np.isfinite(de0).any():
            first = int(np.searchsorted(energy, np.nanmin(de0), side="left"))
    if anchors is None:
        model = _network(est, energy[first:], covariates)
        if first:
            model = np.concatenate([np.zeros(model.shape[:2] + (first,)), model], axis=2)
    else:
        # The networks are evaluated where the continuation does not replace
        # them (between the anchors) and at the anchors; beyond them only for
        # the spectra where some replica keeps its network (an edge value
        # that is not positive). On an axis that reaches far beyond the
        # trained range most channels are continued, not evaluated.
        inner = slice(
            max(first, int(np.searchsorted(energy, anchors[0], side="left"))),
            max(first, int(np.searchsorted(energy, anchors[1], side="right"))),
        )
        values = _network(est, np.concatenate([energy[inner], anchors]), covariates)
        model = np.empty(values.shape[:2] + (n_channels,))
        model[:, :, inner] = values[:, :, :-2]
        model[:, :, : inner.start] = np.nan  # (one pass over the cube, not two)
        model[:, :, inner.stop :] = np.nan
        powers = np.repeat(est.tail_powers_[:, None], n_spectra, axis=1)
        if est.mode == "specimen":
            reference = tail_reference(est.regions_, est.read_noise_)
            for i, (s, d) in enumerate(zip(spectra, de1, strict=True)):
                law = tail_law(s, energy, d, reference)
                if law is not None:
                    powers[1, i] = law[2]
        continue_tails(model, energy, anchors, values[:, :, -2:], powers)
        model[:, :, :first] = 0.0
        kept = np.flatnonzero(np.isnan(model).any(axis=(0, 2)))
        if kept.size:
            patched = model[:, kept]
            np.copyto(
                patched, _network(est, energy, covariates[kept]), where=np.isnan(patched)
            )
            model[:, kept] = patched
    model *= norm[None, :, None]
    residuals = getattr(est, "vacuum_residuals_", None)
    if est.vacuum_residuals and residuals is not None:
        streams = [
            noise_generator(est._noise_seed_ + 1, s, a)
            for s, a in zip(spectra, data.acquisition, strict=True)
        ]
        add_scatter(model, residuals, streams)
    if est.band_scale != 1.0:
        rescale_replicas(model, est.band_scale)
    return model, fwhm, de1, de2, covariates


def _network(est, grid, covariates):
    """Every replica's network output at ``grid`` for each row of ``covariates``.

    Shape (n_replicas, n_spectra, grid.size), a new array. Each point is
    evaluated on its own, so a subset of points gives the same values.
    """
    points = np.column_stack(
        [
            np.tile(energy_feature(grid, est.energy_width_), covariates.shape[0]),
            np.repeat(covariates, grid.size, axis=0),
        ]
    )
    replicas = np.asarray(est.regressor_.transform(points), dtype=np.float64)
    return np.ascontiguousarray(replicas.T).reshape(-1, covariates.shape[0], grid.size)


def rescale_replicas(model, scale):
    """Move every replica from the replicas' median by ``scale`` in ln, in place.

    ``ln Z_r -> ln m + scale (ln Z_r - ln m)`` with ``m`` the median over
    replicas, channel by channel; channels where a replica is not positive
    scale linearly, ``Z_r -> m + scale (Z_r - m)``.
    """
    median = replica_median(model)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = model / median[None]
        log_scaled = median[None] * np.exp(scale * np.log(ratio))
    linear = median[None] + scale * (model - median[None])
    positive = (model > 0) & (median[None] > 0)
    np.copyto(model, np.where(positive, log_scaled, linear))
    return model


def subtract_batch(est, data, *, keep=(), on_model=None, on_zlp=None, matched_only=False):
    """Model, matched ZLP and subtracted replicas of one batch of spectra.

    Cubes are computed in place on one another unless named in ``keep``
    (``"zlp_model"``, ``"zlp"``); ``on_model`` and ``on_zlp`` are called with
    the model and matched cubes before they are overwritten (to reduce them to
    statistics), ``on_model`` also with the batch's (dE_0, dE_I, dE_II).
    ``matched_only``: the model is evaluated only where the matched ZLP uses it
    (:func:`model_replicas`); what is subtracted is the same.
    """
    model, fwhm, de1, de2, covariates = model_replicas(est, data, matched_only)
    spectra, energy = data.spectra, data.energy
    de0 = matching_start(de1, fwhm, est.match_width)
    if on_model is not None:
        on_model(model, (de0, de1, de2))
    zlp = match_zlp(
        model,
        spectra,
        energy,
        de0,
        de1,
        mirror=est.gain_side == "model",
        out=None if "zlp_model" in keep else model,
    )
    # nothing to match without dE_I: NaN, and the status says why
    zlp[:, ~np.isfinite(de1)] = np.nan
    if on_zlp is not None:
        on_zlp(zlp)
    zlp_total = zlp.sum(axis=-1)
    if est.data_noise:
        noisy = add_noise_draws(
            est._noise_seed_, spectra, data.acquisition, est.read_noise_, zlp.shape[0]
        )
        total = noisy.sum(axis=-1)
        # The matched ZLP is the data below dE_0: each replica's draw of the
        # data's noise is in its ZLP there as well as in its total, which
        # t/lambda = ln(total / ZLP) must see (it is most of t/lambda's noise).
        data_part = 1.0 - model_weight(energy, de0, de1, mirror=est.gain_side == "model")
        zlp_total = zlp_total + np.einsum("rbc,bc->rb", noisy, data_part)
        zlp_total -= np.einsum("bc,bc->b", spectra, data_part)[None, :]
        subtracted = np.subtract(noisy, zlp, out=noisy)
    else:
        total = np.broadcast_to(spectra.sum(axis=-1), zlp_total.shape)
        out = None if "zlp" in keep else zlp
        subtracted = np.subtract(spectra[None], zlp, out=out)
    # the specimen's losses below dE_I are in the matched ZLP: not I_0
    streams = [
        noise_generator(est._noise_seed_ + 3, s, a)
        for s, a in zip(spectra, data.acquisition, strict=True)
    ]
    elastic = zlp_total - hidden_inelastic(subtracted, energy, de1, streams)
    return BatchReplicas(
        model if "zlp_model" in keep else None,
        zlp if "zlp" in keep else None,
        subtracted,
        de0,
        de1,
        de2,
        fwhm,
        covariates,
        log_ratio(total, elastic),
        log_ratio(zlp_total, elastic),
    )


def log_ratio(total, zlp_total):
    """t/lambda = ln(total / ZLP) per replica; NaN where either is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((total > 0) & (zlp_total > 0), total / zlp_total, np.nan)
        return np.log(ratio)
