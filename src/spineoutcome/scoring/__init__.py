"""Pre-operative risk scoring of a hospital export with one or more model bundles.

    >>> from spineoutcome.scoring import score_export
    >>> summary = score_export(["models:/c5_palsy@champion"], "preop_list.csv", "scores.csv")
    >>> summary.rows_in == summary.rows_scored + summary.rows_rejected
    True

- :func:`score_export`: the export in chunks -> scores file, rejects file, optional risk sheets
  (:mod:`.export`);
- :func:`load_verified` (also :func:`load_scoring_model`): an MLflow URI or folder -> a
  :class:`ScoringModel`, every file checked against a record kept outside the folder before
  anything is unpickled; :func:`load_pyfunc` the same for ``mlflow.pyfunc`` (:mod:`.model`);
- :class:`TaskScorer`: risk, band, category, drivers and flags for typed rows (:mod:`.task`);
- :func:`parse_predictors`: export text -> training dtypes and reject records (:mod:`.parse`);
- :func:`open_export`: streaming reader with line numbers (:mod:`.reader`);
- the command ``spineoutcome score`` (:mod:`.command`).
"""

from spineoutcome.scoring.export import (
    ContractMismatchError,
    ScoringSummary,
    check_columns,
    score_export,
)
from spineoutcome.scoring.model import (
    UNVERIFIED,
    FetchedModel,
    IntegrityError,
    ModelLoadError,
    ScoringModel,
    fetch_verified,
    load_pyfunc,
    load_scoring_model,
    load_verified,
)
from spineoutcome.scoring.parse import ParsedPredictors, Problem, parse_predictors
from spineoutcome.scoring.reader import Chunk, ExportFile, open_export
from spineoutcome.scoring.task import OUTPUTS, TaskScorer, categorise, category_labels

__all__ = [
    "OUTPUTS",
    "UNVERIFIED",
    "FetchedModel",
    "Chunk",
    "ContractMismatchError",
    "ExportFile",
    "IntegrityError",
    "ModelLoadError",
    "ParsedPredictors",
    "Problem",
    "ScoringModel",
    "ScoringSummary",
    "TaskScorer",
    "categorise",
    "category_labels",
    "check_columns",
    "fetch_verified",
    "load_pyfunc",
    "load_verified",
    "load_scoring_model",
    "open_export",
    "parse_predictors",
    "score_export",
]
