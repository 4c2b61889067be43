"""The instability record of one family, from the models its optimism bootstrap already fitted.

No model is fitted here: the plan's executor keeps each optimism-bootstrap replicate's predictions for
the original patients (:meth:`~spineoutcome.experiment.executor.PlanResults.bootstrap_predictions`), and
:func:`~spineoutcome.evaluation.instability.prediction_instability` turns them and the final model's
predictions into Riley & Collins' aggregates (Biometrical Journal 2023; 65:2200302).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from spineoutcome.evaluation import InsufficientDataError, prediction_instability
from spineoutcome.evidence import InstabilityRecord


def instability_record(
    y: np.ndarray, p: np.ndarray, predictions: np.ndarray | None, thresholds: Sequence[float]
) -> InstabilityRecord | None:
    """Instability of the final model (predictions ``p``) across the optimism bootstrap's models
    (``predictions``: replicates x patients, a failed replicate's row NaN); None without a bootstrap
    or when no replicate could be fit."""
    if predictions is None:
        return None
    try:
        result = prediction_instability(y, p, predictions, thresholds=thresholds, replicates=len(predictions))
    except InsufficientDataError:
        return None
    return cast(InstabilityRecord, result.to_dict())
