"""The pipeline's clinical comparators evaluated next to the selected model, on the same patients and folds.

Runs after model selection (the selected family is known only when every family has been
evaluated). Each comparator's expression (:mod:`spineoutcome.comparators`) is evaluated on the
analysed patients' pre-operative values; a rule is its own out-of-fold prediction, a score gets
out-of-fold risks from a one-variable logistic model (median imputation with a missing indicator,
standardised, unpenalised) fitted inside the plan's cross-validation folds; its first repeat is
compared, as the models' first repeat is reported. The statistics are
:mod:`spineoutcome.evaluation.comparators`; the paired bootstrap shares the replicates (seed
stream ``comparison_bootstrap``) of the model-versus-logistic comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from spineoutcome.comparators import compile_expression
from spineoutcome.config import ComparatorSpec, PipelineConfig
from spineoutcome.data.cohort import Cohort
from spineoutcome.evaluation import Bootstrap
from spineoutcome.evaluation.comparators import compare_rule, compare_score
from spineoutcome.evidence import ComparatorRecord, ComparatorsRecord
from spineoutcome.experiment.plan import seed_of
from spineoutcome.experiment.task import TaskData
from spineoutcome.experiment.validation import out_of_fold
from spineoutcome.modeling.resampling import Split

REPLICATES = 500
"""Paired bootstrap replicates of the model-minus-comparator net benefit (as for model-versus-logistic)."""
MISSING_POLICY = (
    "A rule that cannot be applied to a patient (a variable it needs is missing, and the answer depends on it) "
    "counts as not flagged: a rule that cannot be applied triggers no action. A score's AUC uses the patients "
    "with a score; its risks (calibration, net benefit) come from a one-variable logistic model with median "
    "imputation and a missing indicator, fitted inside each training fold."
)


def score_model() -> Pipeline:
    """The one-variable logistic model that turns a score into risks (fit inside each training fold)."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(C=np.inf, max_iter=1000),
    )


def evaluate_comparators(
    config: PipelineConfig, cohort: Cohort, task: TaskData, splits: list[Split], p_model: np.ndarray, family: str
) -> ComparatorsRecord | None:
    """Every comparator of ``config`` against the selected ``family``'s out-of-fold risks ``p_model``;
    None when the pipeline names no comparator."""
    if not config.comparators:
        return None
    frame = cohort.wide.loc[task.X.index]
    boot = Bootstrap.draw(task.y, n_boot=REPLICATES, seed=seed_of(config, "comparison_bootstrap"))
    records = [
        _one(spec, cohort, frame, task.y, p_model, config.thresholds, splits, boot) for spec in config.comparators
    ]
    return {
        "family": family,
        "thresholds": list(config.thresholds),
        "replicates": REPLICATES,
        "missing_values": MISSING_POLICY,
        "comparators": records,
    }


def _one(
    spec: ComparatorSpec,
    cohort: Cohort,
    frame: pd.DataFrame,
    y: np.ndarray,
    p_model: np.ndarray,
    thresholds: list[float],
    splits: list[Split],
    boot: Bootstrap,
) -> ComparatorRecord:
    expression = compile_expression(spec.expression, cohort.dictionary, spec.kind)
    record: ComparatorRecord = {
        "name": spec.name,
        "kind": spec.kind,
        "expression": spec.expression,
        "source": spec.source,
        "description": spec.description,
    }
    absent = sorted(n for n in expression.names if n not in frame.columns or frame[n].isna().all())
    if absent:
        record["not_evaluated"] = f"no values of {', '.join(absent)} in the analysed data"
        return record
    values = expression.evaluate(frame)
    if spec.kind == "rule":
        result = compare_rule(y, values.values, values.known, p_model, thresholds, boot=boot)
    else:
        score = pd.DataFrame({"score": values.values}, index=frame.index)
        risks, _ = out_of_fold(score_model(), score, y, splits)
        result = compare_score(y, values.values, risks[0], p_model, thresholds, boot=boot)
    record["result"] = result.to_dict()
    return record
