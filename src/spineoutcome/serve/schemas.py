"""The JSON API's request and response shapes (they make ``/openapi.json``).

``POST /api/v1/predict`` takes ``{"patients": [{variable: value, ...}, ...]}`` and answers
``{"models": [...], "predictions": [...]}``: one prediction per patient *and served model*,
patient by patient in request order and, within a patient, the models in serving order (with
one model, ``predictions[i]`` is patient ``i``). Each prediction names its ``patient`` (index in
the request) and ``model``, so a client never relies on position alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PredictRequest(BaseModel):
    """Patients to score: each a mapping variable -> value (number, text, true/false, or null for not recorded)."""

    patients: list[dict[str, Any]] = Field(
        description="One object per patient, keyed by variable name (the input contract of GET /api/v1/models). "
        "Every predictor of a served model must be named; null means not recorded (the model imputes "
        "it and flags it, unless the predictor requires a value).",
        examples=[
            [{"age": 67, "sex": "male", "approach": "anterior", "planned_levels": 3, "diabetes": False, "bmi": None}]
        ],
    )


class Driver(BaseModel):
    variable: str
    text: str = Field(description="The driver in words, e.g. 'Age at surgery: 78 years raises the risk'.")
    log_odds: float = Field(
        description="The predictor's SHAP value on the log-odds scale, against the average development patient."
    )


class Flag(BaseModel):
    code: str = Field(description="imputed | extrapolated | out_of_distribution | ignored_fields")
    variables: list[str]
    message: str


class Problem(BaseModel):
    variable: str
    value: Any = Field(description="The value as sent (null when the field was absent).")
    rule: str = Field(
        description="missing_field | missing_value | not_a_number | not_a_whole_number | "
        "not_a_boolean | unknown_category | out_of_range | not_a_single_value"
    )
    message: str


class Prediction(BaseModel):
    """One patient scored by one model; with a problem: no probability, and the problems say why."""

    patient: int = Field(description="Index of the patient in the request.")
    model: str = Field(description="Name of the served model (GET /api/v1/models).")
    probability: float | None = Field(description="Calibrated risk (0-1), as the MLflow pyfunc model computes it.")
    band_low: float | None = Field(description="2.5th percentile of the bootstrap refits' risks (95 % band).")
    band_high: float | None = Field(description="97.5th percentile of the bootstrap refits' risks.")
    risk_group: str | None = Field(description="Risk group at the thresholds the model was developed with.")
    drivers: list[Driver] = Field(description="The three main drivers, largest first (empty without explain).")
    flags: list[Flag]
    problems: list[Problem]


class ModelInfo(BaseModel):
    name: str
    uri: str
    version: str | None
    task: str
    description: str
    outcome: str | None
    family: str | None
    bundle_sha256: str
    verification: str = Field(description="How the model's files were checked against the digest recorded at logging.")
    evidence_run_id: str | None
    thresholds: list[float]
    risk_groups: list[str]
    predictors: list[str]
    band_refits: int


class PredictResponse(BaseModel):
    models: list[ModelInfo]
    predictions: list[Prediction]


class Health(BaseModel):
    status: str
    models: list[dict[str, str]]
