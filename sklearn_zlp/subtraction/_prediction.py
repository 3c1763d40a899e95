"""ZLPSubtractor's methods after fit: subtraction, medians, bands, replicas, score.

They validate X once (:func:`~._inputs.validate_input`) and stream over
``batch_size`` spectra at a time (:mod:`._streaming`), reducing replicas to
medians and bands batch by batch unless replicas are asked for.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._noise import counting_variance
from .._progress import progress_task
from .._replicas import replica_band, replica_median, replica_quantiles
from ..io._model_mixin import ModelFileMixin
from ._checks import checked_statistics, spectrum_checks
from ._floor import thickness_status
from ._inputs import validate_input
from ._regions import matching_start
from ._result import ZLPSubtractionResult, empty_summary, summarise
from ._streaming import batch_slices, model_replicas, subtract_batch
from ._summary import subtractor_summary
from ._uncertainty import add_counting_noise, noise_generator

__all__ = ["SubtractionMethods"]


def check_confidence_level(level):
    """Raise unless ``level`` lies in (0, 1)."""
    if not 0 < float(level) < 1:
        raise ValueError(
            f"confidence_level must lie in (0, 1), got {level!r}; 0.68 gives the "
            "16th to 84th percentile band."
        )


def batch_checks(est, part, batch, model_median, model_band, confidence_level):
    """Statuses, diagnostics and t/lambda summary of one batch of spectra."""
    status, diagnostics = spectrum_checks(
        est,
        part.spectra,
        part.energy,
        batch.covariates,
        model_median,
        model_band,
        (batch.de0, batch.de1, batch.de2),
        batch.fwhm,
    )
    thickness = batch.t_over_lambda
    band = replica_band(thickness, confidence_level, nan_policy="omit")
    thickness_statuses, floor = thickness_status(
        status, part.spectra, part.energy, batch.fwhm, est.read_noise_, band
    )
    hidden = {
        "hidden_t_over_lambda": replica_median(
            batch.hidden_t_over_lambda, nan_policy="omit"
        )
    }
    return {
        "status": status,
        "diagnostics": {**diagnostics, **floor, **hidden},
        "t_over_lambda": replica_median(thickness, nan_policy="omit"),
        "t_over_lambda_band": band,
        "t_over_lambda_status": thickness_statuses,
    }


def join_checks(parts):
    """:func:`batch_checks` of consecutive batches joined along the spectra."""
    return {
        "status": np.concatenate([p["status"] for p in parts]),
        "diagnostics": {
            key: np.concatenate([p["diagnostics"][key] for p in parts])
            for key in parts[0]["diagnostics"]
        },
        "t_over_lambda": np.concatenate([p["t_over_lambda"] for p in parts]),
        "t_over_lambda_band": np.concatenate(
            [p["t_over_lambda_band"] for p in parts], axis=1
        ),
        "t_over_lambda_status": np.concatenate([p["t_over_lambda_status"] for p in parts]),
    }


class SubtractionMethods(ModelFileMixin):
    """Prediction methods of :class:`~sklearn_zlp.ZLPSubtractor` (a mixin)."""

    def _validated(self, X):
        check_is_fitted(self)
        return validate_input(
            X,
            self.covariates,
            n_features_in=self.n_features_in_,
            fitted_axis=self.energy_axis_,
        )

    def _batches(self, data):
        return [
            (rows, data.rows(rows))
            for rows in batch_slices(len(data.spectra), self.batch_size)
        ]

    def subtract(self, X, *, keep_replicas=False, confidence_level=0.68):
        """Medians and bands of the model ZLP, matched ZLP and subtracted spectra.

        Streams over ``batch_size`` spectra at a time: replicas are reduced
        batch by batch, so memory does not grow with the number of spectra
        beyond the outputs. Peak about ``8 n_spectra (F + 9 C) + 4 x 8 R b C``
        bytes (F columns of X, C channels, R replicas, b = batch_size; Notes of
        the class), plus ``3 x 8 R n_spectra C`` with ``keep_replicas``.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).
        keep_replicas : bool, default=False
            Also keep every replica's model ZLP, matched ZLP and subtracted
            spectrum (``3 x 8 n_replicas`` bytes per spectrum and channel); for
            many spectra iterate over :meth:`subtract_batches` instead.
        confidence_level : float in (0, 1), default=0.68
            Level of the bands (0.68: 16th to 84th percentile).

        Returns
        -------
        result : ZLPSubtractionResult
            Medians and bands (and replicas when kept), and the region edges.
        """
        check_confidence_level(confidence_level)
        data = self._validated(X)
        n, n_channels = data.spectra.shape
        kinds = ("zlp_model", "zlp", "subtracted")
        summary = empty_summary(kinds, n, n_channels)
        edges = np.empty((3, n))
        cubes = {}
        checks = []
        with progress_task("subtracting", n, "spectra") as task:
            for rows, part in self._batches(data):
                # each cube is reduced before the next step overwrites it
                def reduce(kind, rows=rows):
                    return lambda cube, *_: summarise(
                        {kind: cube}, confidence_level, summary, rows
                    )

                batch = subtract_batch(
                    self,
                    part,
                    keep=kinds if keep_replicas else (),
                    on_model=reduce("zlp_model"),
                    on_zlp=reduce("zlp"),
                )
                reduce("subtracted")(batch.subtracted)
                edges[:, rows] = batch.de0, batch.de1, batch.de2
                n_replicas = batch.subtracted.shape[0]
                for kind in kinds if keep_replicas else ():
                    if kind not in cubes:
                        cubes[kind] = np.empty((n_replicas, n, n_channels))
                    cubes[kind][:, rows] = getattr(batch, kind)
                checks.append(
                    batch_checks(
                        self,
                        part,
                        batch,
                        summary["zlp_model_median"][rows],
                        summary["zlp_model_band"][:, rows],
                        confidence_level,
                    )
                )
                task.update(rows.stop - rows.start)
        return ZLPSubtractionResult(
            energy=data.energy.copy(),
            spectra=data.spectra,
            de0=edges[0],
            de1=edges[1],
            de2=edges[2],
            n_replicas=n_replicas,
            rows=slice(0, n),
            replicas=cubes if keep_replicas else None,
            summary=summary,
            confidence_level=confidence_level,
            **join_checks(checks),
        )

    def subtract_batches(self, X, *, confidence_level=0.68):
        """Every replica of every spectrum, one batch of spectra at a time.

        X is validated when this is called; the batches are computed as they
        are iterated over, each holding ``3 x 8 n_replicas x batch_size x
        n_channels`` bytes of replicas. Results equal :meth:`subtract`'s.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).
        confidence_level : float in (0, 1), default=0.68
            Level of the bands.

        Returns
        -------
        batches : iterator of ZLPSubtractionResult
            One result per batch (``result.rows``: its rows of X), replicas
            kept; its medians and bands are computed when first read. Batches
            are computed with the subtractor as it is when they are reached.
        """
        return self._batch_results(X, confidence_level, ("zlp_model", "zlp"))

    def _batch_results(self, X, confidence_level, cubes):
        """:meth:`subtract_batches` keeping the subtracted replicas and ``cubes``.

        ``cubes`` names the other replicas kept ("zlp_model", "zlp"): the maps
        keep none, so that the ZLP is matched and subtracted in place.
        """
        check_confidence_level(confidence_level)
        data = self._validated(X)
        batches = self._batches(data)

        def generate():
            # reports only into a stage already open: the caller may stop iterating
            with progress_task(
                "subtracting", len(data.spectra), "spectra", own_stage=False
            ) as task:
                for rows, part in batches:
                    checked = []  # the checks' statistics, before the model is overwritten

                    def statistics(model, edges, part=part, checked=checked):
                        checked.extend(
                            checked_statistics(model, part.energy, edges, confidence_level)
                        )

                    batch = subtract_batch(
                        self,
                        part,
                        keep=cubes,
                        on_model=statistics,
                        # no model cube kept: evaluated only where it is matched
                        matched_only="zlp_model" not in cubes,
                    )
                    replicas = {k: getattr(batch, k) for k in (*cubes, "subtracted")}
                    # the medians and bands of the whole axis are computed when read
                    median, band = checked
                    checks = batch_checks(self, part, batch, median, band, confidence_level)
                    yield ZLPSubtractionResult(
                        energy=data.energy.copy(),
                        spectra=part.spectra,
                        de0=batch.de0,
                        de1=batch.de1,
                        de2=batch.de2,
                        n_replicas=batch.subtracted.shape[0],
                        rows=rows,
                        replicas=replicas,
                        summary=None,
                        confidence_level=confidence_level,
                        **join_checks([checks]),
                    )
                    task.update(rows.stop - rows.start)

        return generate()

    def summary(self):
        """What was fitted and how well, as text for a person to read.

        The regions and trained energies, covariate ranges, noise model, how
        many replicas were kept (and why the others were dropped), the chi^2
        figures (per replica, per spectrum, held out) and the statuses of the
        training spectra.

        Returns
        -------
        text : str
        """
        check_is_fitted(self)
        return subtractor_summary(self)

    def _statuses(self, data):
        """Status of every spectrum of validated ``data``, from its model ZLP alone."""
        status = []
        for _, part in self._batches(data):
            model, fwhm, de1, de2, covariates = model_replicas(self, part)
            de0 = matching_start(de1, fwhm, self.match_width)
            band = replica_band(model)
            status.append(
                spectrum_checks(
                    self,
                    part.spectra,
                    part.energy,
                    covariates,
                    replica_median(model),
                    band,
                    (de0, de1, de2),
                    fwhm,
                )[0]
            )
        return np.concatenate(status)

    def transform_replicas(self, X):
        """Subtracted spectra of every replica.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).

        Returns
        -------
        replicas : ndarray of shape (n_replicas, n_spectra, n_channels)
            ``8 n_replicas`` bytes per spectrum and channel; for many spectra
            iterate over :meth:`subtract_batches`.
        """
        data = self._validated(X)
        out = None
        for rows, part in self._batches(data):
            cube = subtract_batch(self, part).subtracted
            if out is None:
                out = np.empty((cube.shape[0], *data.spectra.shape))
            out[:, rows] = cube
        return out

    def transform(self, X):
        """Median subtracted spectra.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Aligned spectra on ``energy_axis`` (and acquisition parameters).

        Returns
        -------
        subtracted : ndarray of shape (n_spectra, n_channels)
            Median over replicas of data minus matched ZLP.
        """
        return self._median_subtracted(self._validated(X))

    def _median_subtracted(self, data):
        out = np.empty(data.spectra.shape)
        for rows, part in self._batches(data):
            out[rows] = replica_median(subtract_batch(self, part).subtracted)
        return out

    def predict_zlp(self, X, quantiles=(0.16, 0.5, 0.84), *, counting_noise=False):
        """Quantiles over replicas of the model ZLP (before matching).

        In vacuum mode (with ``vacuum_residuals``) every replica also carries a
        draw of the spectrum-to-spectrum scatter of the training spectra, so
        the band is that of a new spectrum's (noise-free) ZLP; with
        ``counting_noise`` also a draw of the counting noise (and read noise)
        at the replica's ZLP: the band of the counts a new spectrum records,
        to compare with data, e.g. a held-out vacuum spectrum.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Spectra (their covariates and normalisation are used).
        quantiles : sequence of float, default=(0.16, 0.5, 0.84)
            Quantiles in [0, 1].
        counting_noise : bool, default=False
            Add each replica's draw of the counting noise (a stream per
            spectrum, seeded by ``random_state`` and the spectrum's values).

        Returns
        -------
        zlp : ndarray of shape (n_quantiles, n_spectra, n_channels)
        """
        q = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
        data = self._validated(X)
        out = np.empty((q.size, *data.spectra.shape))
        for rows, part in self._batches(data):
            cube = model_replicas(self, part)[0]
            if counting_noise:
                streams = [
                    noise_generator(self._noise_seed_ + 2, s, a)
                    for s, a in zip(part.spectra, part.acquisition, strict=True)
                ]
                add_counting_noise(cube, streams, self.read_noise_)
            out[:, rows] = replica_quantiles(cube, q)
        return out

    def score(self, X, y=None):
        """Negative chi^2 per point of the median ZLP model on X's training regions.

        Region I of every spectrum in specimen mode (the same dE_I rule as in
        fit), every channel above the noise in vacuum mode, with counting
        uncertainties (and read noise). Greater is better, so GridSearchCV can
        tune region or network parameters on held-out spectra with it.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_channels + n_acquisition)
            Held-out aligned spectra (and acquisition parameters).
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-mean((I - ZLP_median)^2 / sigma^2)``.
        """
        data = self._validated(X)
        energy = data.energy
        chi2 = np.empty(len(data.spectra))
        count = np.empty(len(data.spectra), dtype=np.int64)
        for rows, part in self._batches(data):
            spectra = part.spectra
            cube, _, de1, de2, _ = model_replicas(self, part)
            model = replica_median(cube)
            if self.mode == "vacuum":
                used = (energy[None] >= -de1[:, None]) & (energy[None] <= de2[:, None])
            else:
                used = np.abs(energy[None]) < de1[:, None]
            used &= spectra > 0
            terms = (spectra - model) ** 2 / counting_variance(spectra, self.read_noise_)
            # one sum per spectrum, then over spectra: independent of batch_size
            chi2[rows] = [t[u].sum() for t, u in zip(terms, used, strict=True)]
            count[rows] = used.sum(axis=1)
        return -float(chi2.sum() / count.sum())

    def get_feature_names_out(self, input_features=None):
        """Channel names of the subtracted spectra ("E=<energy in eV>")."""
        check_is_fitted(self)
        return np.array([f"E={e:.4f}" for e in self.energy_axis_], dtype=object)
