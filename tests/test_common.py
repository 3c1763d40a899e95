"""scikit-learn's estimator checks on every public estimator, with fast parameters."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_zlp import ZeroLossAligner, ZLPEnsembleRegressor
from sklearn_zlp.preprocessing import EnergyWindow, ZLPRegionMask

ESTIMATORS = [
    # The checks' random data has no ZLP, so no edge can be estimated from it, and
    # may have a single channel: user-given edges on numbered channels, dE_I beyond
    # any channel (every maximum lies in region I), region III allowed empty.
    ZLPRegionMask(de1=1e3, de2=2e3, min_channels=0),
    EnergyWindow(),
    # energy_axis=None numbers the channels, so the aligner accepts any number of
    # features, as the common checks require; their random data has no ZLP.
    ZeroLossAligner(missing_zlp="ignore"),
    # The defaults, only smaller: log_target=True declares positive-only targets,
    # so the regressor checks fit positive y.
    ZLPEnsembleRegressor(n_replicas=3, max_epochs=30),
]

EXPECTED_FAILED_CHECKS = {
    "ZeroLossAligner": {},
    "ZLPEnsembleRegressor": {
        "check_sample_weight_equivalence_on_dense_data": (
            "sample_weight is 1/sigma^2: a point of weight 2 gets one replica noise draw "
            "of sigma/sqrt(2), two copies get two independent draws of sigma, and the "
            "random validation split sees different points, so the fits differ."
        ),
        "check_regressors_train": (
            "The default uncertainties are counting statistics (sigma^2 = y): the "
            "check's targets, shifted positive to 1 to ~13, are then counts with "
            "30-100% relative noise, and the replicas fit them only to that precision. "
            "Measured R^2 -0.01 after these 30 epochs and 0.2-0.3 after 150 to 1000 "
            "(0.75 when sample_weight gives sigma = 0.01), below the check's 0.5."
        ),
        # sklearn's transformer checks fit on make_blobs labels (0, 1, 2) as y and,
        # unlike its regressor checks, ignore target_tags.positive_only; ln y of
        # y <= 0 does not exist, so log_target=True rejects it with a clear error.
        **dict.fromkeys(
            [
                "check_transformer_general",
                "check_transformer_data_not_an_array",
                "check_transformer_preserve_dtypes",
            ],
            "fits y = 0, 1, 2 (make_blobs labels), ignoring target_tags.positive_only; "
            "log_target=True models ln y and rejects y <= 0 with a clear error.",
        ),
    },
}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
