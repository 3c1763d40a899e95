"""ThicknessClusterer: group the spectra of an image by thickness (K-means on ln N_tot)."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._replicas import replica_median
from .._status import OK
from .._validation import validate_spectra_data
from ..io._model_mixin import ModelFileMixin
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._transaction import transactional_fit

__all__ = ["ThicknessClusterer", "cluster_edges", "log_total"]

# Spectra scored by the silhouette when the number of clusters is chosen: the
# score costs O(n^2), and 2000 spectra fix it to about 0.01.
_SILHOUETTE_SAMPLE = 2000


def log_total(X):
    """ln N_tot of every spectrum: the logarithm of its total counts.

    The thickness proxy of Roest et al. (2021): with a fixed collection
    aperture, a thicker specimen scatters more electrons out of it.

    Parameters
    ----------
    X : ndarray of shape (n_spectra, n_channels)

    Returns
    -------
    feature : ndarray of shape (n_spectra,)
    """
    total = X.sum(axis=1)
    if np.any(total <= 0):
        bad = np.flatnonzero(total <= 0)
        raise ValueError(
            f"spectra {bad[:5].tolist()} have a total of <= 0 counts, so ln N_tot is "
            "undefined; remove empty pixels (or give feature= a function of your own)."
        )
    return np.log(total)


class ThicknessClusterer(ModelFileMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Group spectra by thickness: K-means on ln N_tot (or a feature of your own).

    The first step of spectrum-image work in Roest et al. (2021) and Brokkelkamp
    et al. (2022): pixels of similar thickness share a zero-loss peak shape, so
    the ZLP model trains on one spectrum per cluster per replica, and each
    cluster gets its own training regions (``ZLPRegionMask(per="cluster")``).
    Labels are numbered by increasing feature (for ln N_tot, cluster 0 has the
    fewest counts: with a fixed aperture, the thickest pixels), so they are the
    same whatever K-means' initialisation.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        Number of clusters, or "auto": the number in ``[2, max_clusters]`` with
        the highest silhouette score (on at most 2000 spectra), or 1 when the
        feature does not vary or there are fewer than 4 spectra.
    max_clusters : int, default=8
        Largest number tried by "auto".
    feature : "log_total" or callable, default="log_total"
        What is clustered: ``"log_total"`` is ln N_tot (:func:`log_total`); a
        callable maps the spectra (n_spectra, n_channels) to an array of shape
        (n_spectra,) or (n_spectra, n_features). Features are standardised
        before K-means.
    n_init : int, default=10
        K-means restarts.
    random_state : int, RandomState instance or None, default=None
        Seeds K-means and the silhouette's sample.

    Attributes
    ----------
    labels_ : ndarray of int of shape (n_spectra,)
        Cluster of every training spectrum.
    n_clusters_ : int
        Number of clusters found.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Centres in feature units (ln N_tot for the default), increasing in the
        first feature.
    feature_ : ndarray of shape (n_spectra, n_features)
        The feature of every training spectrum.
    silhouette_scores_ : dict
        ``{n_clusters: score}`` of every number "auto" tried (empty otherwise).
    n_features_in_ : int
        Number of channels.

    See Also
    --------
    ZLPRegionMask : ``per="cluster"`` estimates dE_I and dE_II per cluster.

    References
    ----------
    L. I. Roest et al., Ultramicroscopy 222 (2021) 113202, section 3.2.
    A. Brokkelkamp et al., J. Phys. Chem. A 126 (2022) 1255.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.preprocessing import ThicknessClusterer
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.poisson(lam, size=(20, 50)) for lam in (100, 200, 400)])
    >>> clusterer = ThicknessClusterer(random_state=0).fit(X)
    >>> clusterer.n_clusters_, np.bincount(clusterer.labels_).tolist()
    (3, [20, 20, 20])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_clusters": [Interval(Integral, 2, None, closed="left")],
        "feature": [StrOptions({"log_total"}), callable],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters="auto",
        *,
        max_clusters=8,
        feature="log_total",
        n_init=10,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.feature = feature
        self.n_init = n_init
        self.random_state = random_state

    def _feature(self, X):
        f = log_total(X) if self.feature == "log_total" else self.feature(X)
        f = np.asarray(f, dtype=np.float64)
        f = f[:, None] if f.ndim == 1 else f
        if f.ndim != 2 or f.shape[0] != X.shape[0] or not np.all(np.isfinite(f)):
            raise ValueError(
                f"feature must give one finite value (or row) per spectrum, shape "
                f"({X.shape[0]},) or ({X.shape[0]}, n_features); got {f.shape}"
                f"{' with non-finite values' if f.shape[0] == X.shape[0] else ''}."
            )
        return f

    @transactional_fit
    def fit(self, X, y=None):
        """Cluster the spectra.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)
            Spectra, one per row (flatten an image with ``reshape(-1, n_channels)``).
        y : None
            Ignored.

        Returns
        -------
        self : ThicknessClusterer
            Fitted clusterer.
        """
        self._validate_params()
        X = validate_spectra_data(self, X, reset=True)
        feature = self._feature(X)
        n = X.shape[0]
        if self.n_clusters != "auto" and self.n_clusters > n:
            raise ValueError(
                f"n_clusters={self.n_clusters} exceeds the {n} spectra; lower it or "
                'use n_clusters="auto".'
            )
        scale = feature.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        mean = feature.mean(axis=0)
        z = (feature - mean) / scale
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        scores = {}
        if self.n_clusters == "auto":
            distinct = np.unique(z, axis=0).shape[0]
            k_max = min(self.max_clusters, distinct - 1, n - 1)
            if n < 4 or k_max < 2:
                k = 1
            else:
                for k in range(2, k_max + 1):
                    labels = self._kmeans(k, seed).fit_predict(z)
                    scores[k] = float(
                        silhouette_score(
                            z,
                            labels,
                            sample_size=min(n, _SILHOUETTE_SAMPLE),
                            random_state=seed,
                        )
                    )
                k = max(scores, key=scores.get)
        else:
            k = self.n_clusters
        model = self._kmeans(k, seed).fit(z)
        # number clusters by increasing first feature: labels independent of the seed
        order = np.lexsort(model.cluster_centers_.T[::-1])
        rank = np.empty(k, dtype=int)
        rank[order] = np.arange(k)
        self.__dict__.update(
            _kmeans_=model,
            _rank_=rank,
            _mean_=mean,
            _scale_=scale,
            labels_=rank[model.labels_],
            n_clusters_=int(k),
            cluster_centers_=model.cluster_centers_[order] * scale + mean,
            feature_=feature,
            silhouette_scores_=scores,
        )
        return self

    def _kmeans(self, k, seed):
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=seed)

    def _z(self, X):
        check_is_fitted(self)
        X = validate_spectra_data(self, X, reset=False)
        feature = self._feature(X)
        if feature.shape[1] != self.feature_.shape[1]:
            raise ValueError(
                f"feature gives {feature.shape[1]} values per spectrum, but the "
                f"clusterer was fitted with {self.feature_.shape[1]}."
            )
        return (feature - self._mean_) / self._scale_

    def predict(self, X):
        """Cluster of every spectrum: the nearest centre.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)

        Returns
        -------
        labels : ndarray of int of shape (n_spectra,)
        """
        z = self._z(X)  # checks that the clusterer is fitted
        return self._rank_[self._kmeans_.predict(z)]

    def transform(self, X):
        """Distance of every spectrum to every centre (standardised feature units).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels)

        Returns
        -------
        distances : ndarray of shape (n_spectra, n_clusters)
            Columns in label order.
        """
        distances = self._kmeans_.transform(self._z(X))
        out = np.empty_like(distances)
        out[:, self._rank_] = distances
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


def cluster_edges(mask, clusterer, X, energy):
    """The fitted attributes of ``ZLPRegionMask(per="cluster")``, as a dict.

    ``clusterer`` (unfitted) groups the validated spectra X; the mask's edge
    estimate runs on every cluster's median spectrum. At least half of the
    clusters need a plausible dE_I; the others get the median edges of those
    (their status says why).
    """
    labels = np.asarray(clusterer.fit(X).predict(X), dtype=int)
    k = int(labels.max()) + 1
    if labels.min() < 0 or np.any(np.bincount(labels, minlength=k) == 0):
        raise ValueError(
            "the clusterer must label the training spectra 0, 1, ..., n_clusters - 1 "
            f"with every cluster used; got labels {np.unique(labels)[:10].tolist()}."
        )
    medians = np.stack([replica_median(X[labels == c]) for c in range(k)])
    de1, de2, status = mask._estimate(medians, energy, allow_lost=True)
    found = status == OK
    mask._check_edges(medians[found], energy, de1[found], de2[found])
    de1_all, de2_all = float(np.median(de1[found])), float(np.median(de2[found]))
    de1 = np.where(found, de1, de1_all)
    de2 = np.where(found, de2, de2_all)
    mask._check_edges(X, energy, de1[labels], de2[labels])
    return {
        "clusterer_": clusterer,
        "labels_": labels,
        "de1_cluster_": de1,
        "de2_cluster_": de2,
        "de1_cluster_status_": status,
        "de1_": de1[labels],
        "de2_": de2[labels],
        "de1_status_": status[labels],
        "de1_all_": de1_all,
        "de2_all_": de2_all,
        "energy_axis_": energy,
    }
