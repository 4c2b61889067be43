"""Evaluation statistics for binary-outcome prediction models.

Functions take outcomes y (0/1), predicted probabilities p and, where relevant, groups or
centres, and return frozen result dataclasses whose ``to_dict()`` is JSON-serialisable.
Bootstrap intervals come from one engine (:class:`Bootstrap`) shared by all metrics and are
percentile intervals. The ``*_weighted`` metric cores evaluate a statistic for every row of a
(replicates x patients) weight matrix at once; a row of ones gives the point estimate.
"""

from ._validation import PROBABILITY_CLIP, InsufficientDataError
from .bootstrap import Bootstrap, percentile_interval
from .calibration import (
    CalibrationCurve,
    CalibrationMetrics,
    calibration_curve,
    calibration_curve_weighted,
    calibration_metrics,
    citl_weighted,
    loess_errors_weighted,
    oe_weighted,
    slope_weighted,
)
from .decision_curve import (
    DEFAULT_THRESHOLDS,
    DecisionCurve,
    decision_curve,
    net_benefit_weighted,
)
from .discrimination import (
    AUCResult,
    ClassificationTable,
    DeLongTestResult,
    ThresholdMetrics,
    auc_weighted,
    delong_covariance,
    delong_test,
    logit_auc,
    roc_auc,
    threshold_metrics,
    wilson_interval,
)
from .evaluate import Evaluation, evaluate_predictions
from .heterogeneity import (
    CentreHeterogeneity,
    CentrePerformance,
    MetaAnalysis,
    centre_heterogeneity,
    random_effects_meta,
)
from .instability import PredictionInstability, prediction_instability
from .overall import OverallPerformance, overall_performance, overall_weighted
from .results import Estimate, to_jsonable
from .samplesize import (
    DevelopmentAdequacy,
    DevelopmentSampleSize,
    ValidationSampleSize,
    development_adequacy,
    development_sample_size,
    expected_shrinkage,
    max_parameters,
    r2_cs_from_c_statistic,
    r2_cs_max,
    validation_sample_size,
)
from .subgroups import (
    DEFAULT_METRICS,
    THRESHOLD_METRICS,
    GroupResult,
    MetricValue,
    SubgroupFrame,
    subgroup_metrics,
)

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_THRESHOLDS",
    "PROBABILITY_CLIP",
    "THRESHOLD_METRICS",
    "AUCResult",
    "Bootstrap",
    "CalibrationCurve",
    "CalibrationMetrics",
    "CentreHeterogeneity",
    "CentrePerformance",
    "ClassificationTable",
    "DeLongTestResult",
    "DecisionCurve",
    "DevelopmentAdequacy",
    "DevelopmentSampleSize",
    "Estimate",
    "Evaluation",
    "GroupResult",
    "InsufficientDataError",
    "MetaAnalysis",
    "MetricValue",
    "OverallPerformance",
    "PredictionInstability",
    "SubgroupFrame",
    "ThresholdMetrics",
    "ValidationSampleSize",
    "auc_weighted",
    "calibration_curve",
    "calibration_curve_weighted",
    "calibration_metrics",
    "centre_heterogeneity",
    "citl_weighted",
    "decision_curve",
    "delong_covariance",
    "delong_test",
    "development_adequacy",
    "development_sample_size",
    "evaluate_predictions",
    "expected_shrinkage",
    "loess_errors_weighted",
    "logit_auc",
    "max_parameters",
    "net_benefit_weighted",
    "oe_weighted",
    "overall_performance",
    "overall_weighted",
    "percentile_interval",
    "prediction_instability",
    "r2_cs_from_c_statistic",
    "r2_cs_max",
    "random_effects_meta",
    "roc_auc",
    "slope_weighted",
    "subgroup_metrics",
    "threshold_metrics",
    "to_jsonable",
    "validation_sample_size",
    "wilson_interval",
]
