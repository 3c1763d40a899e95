"""Thickness clustering of spectrum images and training on the clusters."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from sklearn_zlp import ZLPEnsembleRegressor, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.preprocessing import ThicknessClusterer, ZLPRegionMask, log_total

ENERGY = np.linspace(-2.0, 18.0, 512)
# three thickness regions (columns), the thinnest on the right
THICKNESS = np.repeat([[1.2] * 3 + [0.7] * 3 + [0.3] * 4], 8, axis=0)
REGION = np.repeat([[0] * 3 + [1] * 3 + [2] * 4], 8, axis=0)


@pytest.fixture(scope="module")
def image():
    return make_synthetic_eels(
        image_shape=THICKNESS.shape,
        energy=ENERGY,
        t_over_lambda=THICKNESS,
        plasmon_energy=15.0,
        random_state=0,
    )


@pytest.fixture(scope="module")
def pixels(image):
    return image.spectra.reshape(-1, ENERGY.size)


def test_clusterer_recovers_the_thickness_regions_of_an_image(pixels):
    clusterer = ThicknessClusterer(random_state=0).fit(pixels)
    assert clusterer.n_clusters_ == 3
    labels = clusterer.labels_.reshape(THICKNESS.shape)
    assert adjusted_rand_score(REGION.ravel(), labels.ravel()) == 1.0
    # numbered by increasing ln N_tot: thick pixels lose more electrons, label 0
    assert np.all(np.diff(clusterer.cluster_centers_[:, 0]) > 0)
    assert np.all(labels[:, :3] == 0) and np.all(labels[:, -4:] == 2)
    # the silhouette chose 3 among the numbers tried
    scores = clusterer.silhouette_scores_
    assert max(scores, key=scores.get) == 3 and set(scores) == set(range(2, 9))
    assert np.array_equal(clusterer.predict(pixels), clusterer.labels_)
    assert clusterer.transform(pixels).shape == (pixels.shape[0], 3)
    assert np.allclose(clusterer.feature_[:, 0], log_total(pixels))


def test_clusterer_labels_do_not_depend_on_the_seed(pixels):
    labels = [ThicknessClusterer(random_state=s).fit(pixels).labels_ for s in (0, 1, 7)]
    assert all(np.array_equal(labels[0], other) for other in labels[1:])


def test_clusterer_given_number_and_uniform_thickness():
    rng = np.random.default_rng(1)
    same = rng.poisson(100.0, size=(30, 40)).astype(float)
    fitted = ThicknessClusterer(n_clusters=2, random_state=0).fit(same)
    assert fitted.n_clusters_ == 2 and fitted.silhouette_scores_ == {}
    # too few spectra to choose: one cluster
    assert ThicknessClusterer().fit(same[:3]).n_clusters_ == 1


def test_clusterer_feature_of_your_own(pixels):
    def core_fraction(X):
        return X[:, np.abs(ENERGY) < 0.5].sum(axis=1) / X.sum(axis=1)

    fitted = ThicknessClusterer(feature=core_fraction, random_state=0).fit(pixels)
    assert adjusted_rand_score(REGION.ravel(), fitted.labels_) == 1.0


@pytest.mark.parametrize(
    "kwargs, X, match",
    [
        ({}, np.vstack([np.ones((3, 5)), np.zeros((1, 5))]), "total of <= 0 counts"),
        ({"n_clusters": 5}, np.ones((3, 5)), "exceeds the 3 spectra"),
        ({"feature": lambda X: X[:2, 0]}, np.ones((3, 5)), "one finite value"),
    ],
)
def test_clusterer_bad_input_says_what_to_do(kwargs, X, match):
    with pytest.raises(ValueError, match=match):
        ThicknessClusterer(**kwargs).fit(X)


def test_region_mask_per_cluster_gives_each_cluster_its_edges(pixels):
    mask = ZLPRegionMask(ENERGY, de1_method="derivative", per="cluster").fit(pixels)
    assert mask.clusterer_.n_clusters_ == 3
    assert list(mask.de1_cluster_status_) == ["ok"] * 3
    # every pixel has its cluster's edges, and new spectra get them by prediction
    assert np.array_equal(mask.de1_, mask.de1_cluster_[mask.labels_])
    de1, de2 = mask.edges(pixels[::7])
    assert np.array_equal(de1, mask.de1_cluster_[mask.labels_[::7]])
    assert np.array_equal(de2, mask.de2_cluster_[mask.labels_[::7]])
    # the clusters are not one region: their edges differ
    assert np.ptp(mask.de1_cluster_) > 0.05
    # per="spectrum" edges of the pixels scatter around their cluster's
    own = ZLPRegionMask(ENERGY, de1_method="derivative", per="spectrum").fit(pixels)
    for c in range(3):
        spread = own.de1_[mask.labels_ == c]
        assert spread.min() - 0.1 <= mask.de1_cluster_[c] <= spread.max() + 0.1


def _tiny(n_replicas=6):
    return ZLPEnsembleRegressor(
        n_replicas=n_replicas, max_epochs=300, lr=0.05, n_jobs=1, random_state=0
    )


@pytest.fixture(scope="module")
def cluster_subtractor(pixels):
    return ZLPSubtractor(
        ENERGY,
        regressor=_tiny(),
        regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
        training="clusters",
        random_state=0,
    ).fit(pixels)


def test_cluster_training_trains_on_one_row_per_cluster(cluster_subtractor, pixels):
    sub = cluster_subtractor
    n_clusters = sub.regions_.clusterer_.n_clusters_
    # the quality figures are per cluster, the regions per pixel
    assert sub.spectrum_chi2_.shape == (n_clusters,)
    # statuses of the clusters' medians, not a subtraction pass over every pixel
    assert sub.training_status_.shape == (n_clusters,)
    assert sub.de1_.shape == (pixels.shape[0],)
    assert np.array_equal(sub.de1_, sub.regions_.de1_cluster_[sub.regions_.labels_])
    # the table: each cluster's region I channels (plus pseudo-data), not every pixel's
    per_cluster = [np.sum(np.abs(ENERGY) < d) for d in sub.regions_.de1_cluster_]
    assert sub.n_training_points_ <= sum(per_cluster)
    assert sub.transform(pixels[:4]).shape == (4, ENERGY.size)


def test_cluster_training_draws_one_member_per_cluster_per_replica(pixels):
    from sklearn_zlp.subtraction._clusters import cluster_training_table
    from sklearn_zlp.subtraction._inputs import validate_input

    est = ZLPSubtractor(
        ENERGY,
        regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
        training="clusters",
    )
    data = validate_input(pixels, est.covariates, ENERGY)
    table, targets = cluster_training_table(est, data, _tiny(5), np.random.RandomState(3))
    labels = table.labels
    assert table.picks.shape == (3, 5)
    for c in range(3):
        assert np.all(labels[table.picks[c]] == c)
        rows = np.flatnonzero((table.spectrum == c) & table.is_data)
        chosen = (np.abs(ENERGY) < table.regions.de1_cluster_[c]) & (
            np.median(pixels[labels == c], 0) > 0
        )
        for r in range(5):
            member = pixels[table.picks[c, r]]
            # the replica's targets are that member, in the same normalised units
            ratio = np.maximum(member[chosen], 1.0) / targets[rows, r]
            assert np.allclose(ratio, ratio[0])
    # pseudo-data stay the cluster median's
    pseudo = ~table.is_data
    assert np.array_equal(targets[pseudo], np.repeat(table.target[pseudo, None], 5, 1))
    # the same seed draws the same members
    again = cluster_training_table(est, data, _tiny(5), np.random.RandomState(3))[0]
    assert np.array_equal(again.picks, table.picks)


def test_cluster_training_needs_cluster_regions_and_an_ensemble(pixels):
    with pytest.raises(ValueError, match='ZLPRegionMask\\(per="cluster"\\)'):
        ZLPSubtractor(ENERGY, regressor=_tiny(), training="clusters").fit(pixels)
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ValueError, match="needs a ZLPEnsembleRegressor"):
        ZLPSubtractor(
            ENERGY,
            regressor=LinearRegression(),
            regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
            training="clusters",
        ).fit(pixels)


def test_replica_targets_replace_the_gaussian_draws():
    energy = np.linspace(-1.0, 1.0, 80)[:, None]
    y = 1e4 * np.exp(-0.5 * (energy[:, 0] / 0.2) ** 2) + 10.0
    given = y[:, None] * np.array([0.5, 1.0, 2.0])[None, :]
    reg = ZLPEnsembleRegressor(
        n_replicas=3, max_epochs=400, lr=0.05, validation_fraction=0.0, random_state=0
    ).fit(energy, y, replica_targets=given)
    # each replica learnt its own pseudo-data: the three levels, in order
    level = reg.transform(energy[[40]])[0] / y[40]
    assert np.allclose(level, [0.5, 1.0, 2.0], rtol=0.15)
    with pytest.raises(ValueError, match="shape \\(n_points, n_replicas\\)"):
        reg.fit(energy, y, replica_targets=given[:, :2])
    with pytest.raises(ValueError, match="not finite and positive"):
        reg.fit(energy, y, replica_targets=-given)
