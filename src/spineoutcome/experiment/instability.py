"""The instability record of one family, from the models its optimism bootstrap already fitted.

No model is fitted here: :func:`~spineoutcome.experiment.validation.bootstrap_optimism` keeps each
replicate's predictions for the original patients, and
:func:`~spineoutcome.evaluation.instability.prediction_instability` turns them and the final model's
predictions into Riley & Collins' aggregates (Biometrical Journal 2023; 65:2200302).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from spineoutcome.evaluation import InsufficientDataError, prediction_instability
from spineoutcome.evidence import InstabilityRecord
from spineoutcome.experiment.validation import OptimismCorrection


def instability_record(
    y: np.ndarray, p: np.ndarray, optimism: OptimismCorrection | None, thresholds: Sequence[float]
) -> InstabilityRecord | None:
    """Instability of the final model (predictions ``p``) across the optimism bootstrap's models;
    None without a bootstrap or when no replicate could be fit."""
    if optimism is None or optimism.predictions is None:
        return None
    try:
        result = prediction_instability(
            y, p, optimism.predictions, thresholds=thresholds, replicates=optimism.replicates
        )
    except InsufficientDataError:
        return None
    return cast(InstabilityRecord, result.to_dict())
