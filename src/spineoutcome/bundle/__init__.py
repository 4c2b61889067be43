"""The model bundle: what deployment needs from an experiment, as one MLflow pyfunc model.

- :func:`build_bundle` turns an :class:`~spineoutcome.experiment.ExperimentResult` into a
  :class:`ModelBundle` (the selected family's pipeline, input contract, training summary,
  calibration, bootstrap ensemble);
- :func:`log_bundle` logs it to MLflow as a pyfunc model with a signature and pinned requirements;
- :func:`check_gates` decides whether a run's model may become ``@champion``;
- :mod:`.integrity`: the digest of a model folder, the site signature, and the check that runs
  before anything is unpickled (loaders: :func:`spineoutcome.scoring.load_verified`).
"""

from spineoutcome.bundle.build import ENSEMBLE_SIZE, bootstrap_ensemble, build_bundle
from spineoutcome.bundle.contract import InputContract, ParsedInput, PredictorSpec
from spineoutcome.bundle.gates import GateCheck, GateDecision, Gates, check_gates, net_benefit_at
from spineoutcome.bundle.model import Calibration, ModelBundle
from spineoutcome.bundle.pyfunc import BundleModel, LoggedBundle, log_bundle, pip_requirements, signature
from spineoutcome.bundle.summary import MahalanobisNovelty, TrainingSummary

__all__ = [
    "ENSEMBLE_SIZE",
    "BundleModel",
    "Calibration",
    "GateCheck",
    "GateDecision",
    "Gates",
    "InputContract",
    "LoggedBundle",
    "MahalanobisNovelty",
    "ModelBundle",
    "ParsedInput",
    "PredictorSpec",
    "TrainingSummary",
    "bootstrap_ensemble",
    "build_bundle",
    "check_gates",
    "log_bundle",
    "net_benefit_at",
    "pip_requirements",
    "signature",
]
