"""
Tune region and model parameters with GridSearchCV and a physical score
=======================================================================

Which dE_I is best? :meth:`ZLPSubtractor.score <sklearn_zlp.ZLPSubtractor.score>`
is minus the chi^2 per point of the ensemble's median ZLP on the region-I
channels of spectra it did not train on, so cross-validation over *spectra*
(:class:`~sklearn.model_selection.GroupKFold`, one group per acquisition)
measures how well each choice predicts the zero-loss peak of new spectra. The
dE_I shift multiplies the automatically determined edge. The ensembles are tiny
(a few replicas, a few hundred epochs) so that the example runs in seconds, and
their chi^2 values are correspondingly large (real analyses use the default 100
replicas x 3000 epochs). Note that the scored region I
moves with the shift, so the comparison favours shifts that score fewer, easier
channels: prefer the vacuum score below where vacuum spectra exist.
"""

# %%
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels

data = make_synthetic_eels(
    6, fwhm=0.3, t_over_lambda=(0.3, 0.7), n_vacuum=3, random_state=0
)
groups = np.repeat([0, 1, 2], 2)  # e.g. three acquisitions of two spectra each

search = GridSearchCV(
    ZLPSubtractor(
        energy_axis=data.energy,
        regressor=ZLPEnsembleRegressor(
            n_replicas=3, max_epochs=300, lr=0.1, random_state=0
        ),
        regions=ZLPRegionMask(vacuum=data.vacuum),
        random_state=0,
    ),
    {"regions__de1_shift": [0.7, 0.85, 1.0]},
    cv=GroupKFold(n_splits=3),
)
search.fit(data.spectra, groups=groups)
for shift, score in zip(
    search.cv_results_["param_regions__de1_shift"],
    search.cv_results_["mean_test_score"],
    strict=True,
):
    print(f"dE_I shift {shift}: held-out chi^2 per point {-score:.1f}")
print("best:", search.best_params_)

# %%
# Vacuum spectra recorded at several exposure times train on the whole peak
# (``mode="vacuum"``), with the exposure time as a network input, appended as the
# last column of ``X`` so that cross-validation keeps it with its spectrum.
# Held-out exposure times score the choice of a relative uncertainty floor.
energy = np.linspace(-4, 10, 561)
times = np.array([1.0, 2.0, 4.0, 8.0] * 2)
vacuum = np.vstack(
    [
        make_synthetic_eels(
            1,
            energy=energy,
            fwhm=0.2 + 0.05 * np.log2(t),  # the peak broadens with exposure
            t_over_lambda=0.0,
            total_counts=1e6 * t,
            random_state=k,
        ).spectra
        for k, t in enumerate(times)
    ]
)
search = GridSearchCV(
    ZLPSubtractor(
        energy_axis=energy,
        mode="vacuum",
        covariates=("exposure_time",),
        regressor=ZLPEnsembleRegressor(
            n_replicas=3, max_epochs=300, lr=0.1, random_state=0
        ),
        random_state=0,
    ),
    {"relative_sigma": [0.0, 0.05]},
    cv=GroupKFold(n_splits=4),
)
search.fit(np.column_stack([vacuum, times]), groups=times)
for value, score in zip(
    search.cv_results_["param_relative_sigma"],
    search.cv_results_["mean_test_score"],
    strict=True,
):
    print(f"relative_sigma {value}: held-out vacuum chi^2 per point {-score:.1f}")
