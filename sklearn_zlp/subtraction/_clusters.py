"""Training on thickness clusters: one random spectrum per cluster per replica.

The method of Roest et al. (2021, section 3.2) for spectrum images: the pixels
are grouped by thickness (``ZLPRegionMask(per="cluster")``), each cluster has
its own dE_I and dE_II, and every replica trains on one randomly chosen
spectrum of every cluster, so the spread of the spectra within a cluster
enters the ZLP's uncertainty the way the replicas carry everything else. The
central values (the table's targets) are the clusters' median spectra, with
the variance of one member around that median (counting plus the normalised
spread within the cluster) as their uncertainty; the network input ln N_tot is
the cluster's median.

Training then costs as much as a fit on ``n_clusters`` spectra, whatever the
size of the image.
"""

import numpy as np

from .._replicas import replica_median
from ..preprocessing._align import fwhm_of_validated
from ._inputs import covariate_table, normalisation
from ._point_table import build_point_table, energy_width, tail_powers, tail_reference
from ._regions import fit_regions
from ._uncertainty import choose_read_noise, training_variance

__all__ = ["cluster_training_table"]


def _check_regions(regions, mode):
    if mode != "specimen" or regions is None or regions.get_params()["per"] != "cluster":
        raise ValueError(
            'training="clusters" trains on one spectrum per thickness cluster, so it '
            'needs mode="specimen" and regions=ZLPRegionMask(per="cluster") (which '
            'clusters the spectra); got mode={!r} and regions {}. Use training="spectra" '
            "otherwise.".format(
                mode,
                "None" if regions is None else f"per={regions.get_params()['per']!r}",
            )
        )


def cluster_training_table(est, data, regressor, rng):
    """The point table of the clusters' medians and each replica's member draws.

    ``regressor`` is the ensemble to be fitted (its ``n_replicas``); the
    members are drawn with a seed taken from ``rng`` in this mode only, so
    ``training="spectra"`` draws exactly as before the option existed.

    Returns ``(table, replica_targets)``: the namespace of
    :func:`~._point_table.training_table` (its rows the clusters; ``de1``,
    ``de2`` and ``fwhm`` of every training spectrum; ``labels`` of every
    training spectrum and ``picks`` (n_clusters, n_replicas), the spectrum
    each replica drew from each cluster) and the pseudo-data of every
    replica, shape (n_points, n_replicas).
    """
    from ..ensemble import ZLPEnsembleRegressor

    if not isinstance(regressor, ZLPEnsembleRegressor):
        raise ValueError(
            'training="clusters" gives every replica its own pseudo-data, which needs '
            f"a ZLPEnsembleRegressor as regressor; got {type(regressor).__name__}."
        )
    n_replicas = regressor.n_replicas
    seed = int(rng.randint(np.iinfo(np.int32).max))
    _check_regions(est.regions, est.mode)
    spectra, energy = data.spectra, data.energy
    fwhm_all = fwhm_of_validated(spectra, energy)
    read_noise = choose_read_noise(est.read_noise, spectra, energy, fwhm_all)
    _, _, regions = fit_regions(est.regions, est.mode, spectra, energy, read_noise)
    labels = regions.labels_
    members = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    medians = np.stack([replica_median(spectra[m]) for m in members])
    covariates = covariate_table(data, est.covariates)
    cluster_cov = np.stack([np.median(covariates[m], axis=0) for m in members])
    fwhm = fwhm_of_validated(medians, energy)
    norm_all = normalisation(spectra, energy, fwhm_all, est.normalize)
    norm = normalisation(medians, energy, fwhm, est.normalize)
    relative = 0.0 if est.relative_sigma == "auto" else float(est.relative_sigma)
    # one member's variance around its cluster (spread grouped by cluster), in
    # the normalised units the model learns, back in the median's counts
    member_var = training_variance(
        spectra,
        norm_all,
        energy,
        labels[:, None],
        read_noise=read_noise,
        relative=relative,
        sigma=est.sigma,
    )
    variance = np.stack(
        [
            replica_median(member_var[m] / norm_all[m, None] ** 2) * norm[c] ** 2
            for c, m in enumerate(members)
        ]
    )
    de1, de2 = regions.de1_cluster_, regions.de2_cluster_
    width = energy_width(est, fwhm)
    table = build_point_table(
        medians,
        energy,
        cluster_cov,
        norm,
        variance,
        de1,
        de2,
        width,
        options=est,
        reference=tail_reference(regions, read_noise),
    )
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(m, size=n_replicas) for m in members])
    targets = np.repeat(table.target[:, None], n_replicas, axis=1)
    for c in range(len(members)):
        # the data rows of cluster c, in channel order (as build_point_table made them)
        rows = np.flatnonzero((table.spectrum == c) & table.is_data)
        chosen = (np.abs(energy) < de1[c]) & (medians[c] > 0)
        picked = spectra[picks[c]][:, chosen]  # (n_replicas, n_rows)
        # at least one count: ln of the draw is the model's target
        targets[rows] = (np.maximum(picked, 1.0) / norm_all[picks[c], None]).T
    table.__dict__.update(
        tail_powers=tail_powers(medians, energy, de1, de2, est.mode),
        covariates=cluster_cov,
        read_noise=read_noise,
        regions=regions,
        de1=regions.de1_,  # every training spectrum's: its cluster's
        de2=regions.de2_,
        width=width,
        fwhm=fwhm_all,
        relative_sigma=relative,
        labels=labels,
        picks=picks,
        medians=medians,
        cluster_acquisition=np.stack(
            [np.median(data.acquisition[m], axis=0) for m in members]
        ),
    )
    return table, targets
