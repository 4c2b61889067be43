"""The experiment engine: one pipeline file in, one Evidence record out."""

from spineoutcome.experiment.plan import ExperimentPlan, PlannedFit
from spineoutcome.experiment.run import ExperimentResult, run_experiment
from spineoutcome.experiment.task import FlowStep, TaskData, prepare_task

__all__ = ["ExperimentPlan", "ExperimentResult", "FlowStep", "PlannedFit", "TaskData", "prepare_task", "run_experiment"]
