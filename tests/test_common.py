"""scikit-learn's estimator checks on every public estimator, with fast parameters."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_zlp import ZeroLossAligner

# energy_axis=None numbers the channels, so the aligner accepts any number of
# features, as the common checks require; their random data has no ZLP.
ESTIMATORS = [ZeroLossAligner(missing_zlp="ignore")]

EXPECTED_FAILED_CHECKS = {
    "ZeroLossAligner": {},
}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
