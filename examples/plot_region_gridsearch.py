"""
Tune the region-I edge with GridSearchCV and a physical score
=============================================================

Which dE_I is best? :meth:`ZLPSubtractor.score <sklearn_zlp.ZLPSubtractor.score>`
is minus the chi^2 per point of the ensemble's median ZLP on the region-I
channels of spectra it did not train on, so cross-validation over *spectra*
(:class:`~sklearn.model_selection.GroupKFold`, one group per acquisition)
measures how well each choice predicts the zero-loss peak of new spectra. The
dE_I shift multiplies the automatically determined edge. The ensemble is tiny
so that the example runs in seconds.
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
