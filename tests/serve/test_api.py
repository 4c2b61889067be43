"""The JSON API against the MLflow pyfunc model of the same registered versions (an independent path:
the pyfunc model parses with the input contract and predicts with the pipeline, not the scoring cache)."""

from __future__ import annotations

import json
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from spineoutcome.serve import ServeSettings, create_app, load_models
from spineoutcome.serve.schemas import PredictResponse

from .conftest import URIS, Store


@pytest.fixture(scope="module")
def served(store: Store):
    return load_models(URIS, tracking_uri=store.uri)


@pytest.fixture(scope="module")
def client(served) -> TestClient:
    return TestClient(create_app(served, ServeSettings()))


def pyfunc_predictions(uri: str, rows: pd.DataFrame, contract) -> pd.DataFrame:
    """The registered model's pyfunc predictions for export-text rows, in the signature's format."""
    conformed, _ = contract.conform(rows)
    return mlflow.pyfunc.load_model(uri).predict(conformed, params={"band": True, "flags": True})


def by_model(predictions: list[dict], name: str) -> list[dict]:
    return [p for p in predictions if p["model"] == name]


def test_probabilities_and_bands_equal_the_pyfunc_model(client: TestClient, served, store: Store) -> None:
    rows = store.patients.head(300)
    answer = client.post("/api/v1/predict", json={"patients": rows.to_dict("records")})
    assert answer.status_code == 200
    body = PredictResponse.model_validate(answer.json()).model_dump()
    assert [(p["patient"], p["model"]) for p in body["predictions"]] == [
        (i, s.name) for i in range(len(rows)) for s in served
    ]
    for uri, s in zip(URIS, served, strict=True):
        expected = pyfunc_predictions(uri, rows[s.contract.names], s.contract)
        got = by_model(body["predictions"], s.name)
        scored = np.array([p["probability"] is not None for p in got])
        assert (scored == (expected["problem"] == "").to_numpy()).all()
        assert scored.sum() > 250
        for column in ("probability", "band_low", "band_high"):
            values = np.array([p[column] for p, ok in zip(got, scored, strict=True) if ok], dtype=float)
            np.testing.assert_allclose(values, expected[column].to_numpy()[scored], rtol=0, atol=1e-9, err_msg=column)
        outside = [
            ", ".join(f["variables"])
            for p, ok in zip(got, scored, strict=True)
            if ok
            for f in p["flags"]
            if f["code"] == "extrapolated"
        ]
        assert sorted(outside) == sorted(v for v in expected["extrapolated"][scored] if v)
        ood = [
            any(f["code"] == "out_of_distribution" for f in p["flags"]) for p, ok in zip(got, scored, strict=True) if ok
        ]
        assert ood == expected["out_of_distribution"][scored].astype(bool).tolist()


def test_typed_json_values_score_as_the_export_text(client: TestClient, served, store: Store) -> None:
    """Numbers, true/false and null (what an EHR sends) give the same risks as the export's text."""
    rows = store.patients.head(60)
    contract = served[0].contract
    conformed, problems = contract.conform(rows[contract.names])
    keep = (problems == "").to_numpy()
    typed = []
    for record in conformed[keep].to_dict("records"):
        patient = {}
        for spec in contract.predictors:
            value = record[spec.name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                patient[spec.name] = None
            elif spec.dtype == "bool":
                patient[spec.name] = bool(value)
            elif spec.dtype == "int":
                patient[spec.name] = int(value)
            else:
                patient[spec.name] = value
        typed.append(patient)
    app = TestClient(create_app(served[:1]))
    from_json = app.post("/api/v1/predict", json={"patients": typed}).json()["predictions"]
    from_text = client.post("/api/v1/predict", json={"patients": rows[keep].to_dict("records")}).json()["predictions"]
    assert [p["patient"] for p in from_json] == list(range(len(typed)))
    assert [p["probability"] for p in from_json] == [p["probability"] for p in by_model(from_text, served[0].name)]
    assert all(p["problems"] == [] for p in from_json)


def test_invalid_values_give_problems_never_a_500(client: TestClient, store: Store) -> None:
    good = store.patients.iloc[0].to_dict()
    cases = {
        "age": ("abc", "not_a_number"),
        "planned_levels": (2.5, "not_a_whole_number"),
        "sex": ("unknown", "unknown_category"),
        "diabetes": ("maybe", "not_a_boolean"),
        "occupying_ratio": (250, "out_of_range"),
        "approach": (["anterior"], "not_a_single_value"),
        "bmi": (float("nan"), "not_a_number"),
    }
    patients = [good] + [{**good, name: value} for name, (value, _) in cases.items()]
    absent = dict(good)
    del absent["age"]
    patients.append(absent)
    answer = client.post(
        "/api/v1/predict", content=json.dumps({"patients": patients}), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200
    predictions = answer.json()["predictions"]
    c5, complication = by_model(predictions, "c5_palsy"), by_model(predictions, "complication_any")
    assert c5[0]["probability"] is not None and complication[0]["probability"] is not None
    for k, (name, (value, rule)) in enumerate(cases.items(), start=1):
        for model, entries in (("c5_palsy", c5), ("complication_any", complication)):
            reads = (
                name
                in {
                    "c5_palsy": ["age", "planned_levels", "sex", "diabetes", "occupying_ratio", "approach"],
                    "complication_any": list(cases),
                }[model]
            )
            entry = entries[k]
            if not reads:  # bmi is read by the complication model only: C5 palsy is still scored
                assert entry["probability"] is not None and entry["problems"] == []
                continue
            assert entry["probability"] is None and entry["risk_group"] is None, (name, model)
            assert len(entry["problems"]) == 1
            problem = entry["problems"][0]
            assert (problem["variable"], problem["rule"]) == (name, rule)
            assert problem["value"] == (value if name != "bmi" else "nan")
            assert name in problem["message"]
    last = c5[-1]
    assert last["probability"] is None
    assert [(p["variable"], p["rule"], p["value"]) for p in last["problems"]] == [("age", "missing_field", None)]


def test_missing_value_is_imputed_and_flagged(client: TestClient, store: Store) -> None:
    patient = {**store.patients.iloc[1].to_dict(), "bmi": None, "smoking": "NA"}
    entry = by_model(
        client.post("/api/v1/predict", json={"patients": [patient]}).json()["predictions"], "complication_any"
    )[0]
    assert entry["probability"] is not None
    imputed = [f for f in entry["flags"] if f["code"] == "imputed"]
    assert imputed and set(imputed[0]["variables"]) >= {"bmi", "smoking"}
    assert len(entry["drivers"]) == 3 and all(d["text"] for d in entry["drivers"])


def test_bad_requests_are_4xx(client: TestClient, served) -> None:
    assert (
        client.post("/api/v1/predict", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.post("/api/v1/predict", json={"patients": [1, 2]}).status_code == 422
    assert client.post("/api/v1/predict", json={"people": []}).status_code == 422
    small = TestClient(create_app(served, ServeSettings(max_patients=2)))
    assert small.post("/api/v1/predict", json={"patients": [{}, {}, {}]}).status_code == 422
    empty = client.post("/api/v1/predict", json={"patients": []})
    assert empty.status_code == 200 and empty.json()["predictions"] == []


def test_health_models_and_openapi(client: TestClient, served) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert [m["verification"] for m in health["models"]] == [s.model.integrity for s in served]
    assert all(m["verification"].startswith("verified against") for m in health["models"])
    models = client.get("/api/v1/models").json()["models"]
    assert [m["predictors"] for m in models] == [s.contract.names for s in served]
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/predict"]["post"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("PredictResponse")
    assert {"probability", "band_low", "band_high", "risk_group", "drivers", "flags", "problems"} <= set(
        spec["components"]["schemas"]["Prediction"]["properties"]
    )
    assert "/health" in spec["paths"]


def test_calculator_fields_come_from_the_dictionary(client: TestClient, served) -> None:
    from spineoutcome.dictionary import DataDictionary
    from spineoutcome.serve.form import form_fields

    dictionary = DataDictionary.load()
    fields = {f.name: f for f in form_fields(served)}
    assert list(fields) == list(dict.fromkeys(n for s in served for n in s.contract.names))
    for name, field in fields.items():
        variable = dictionary.variable(name)
        assert (field.help, field.unit, field.range, field.required) == (
            variable.description,
            variable.unit,
            variable.range,
            not variable.nullable,
        )
        if variable.dtype == "category":
            assert [value for value, _ in field.options] == list(variable.categories)
    assert fields["bmi"].models == ("complication_any",) and fields["age"].models == ("c5_palsy", "complication_any")
    page = client.get("/").text
    assert 'name="age" type="number" step="any" min="18" max="100"' in page
    assert 'name="planned_levels" type="number" step="1" min="1" max="8"' in page
    assert '<option value="laminoplasty"' in page and page.count("<form") == 1


def test_calculator_shows_problems_and_never_fails(client: TestClient, store: Store) -> None:
    values = {**store.patients.iloc[3].to_dict(), "age": "abc", "bmi": "300"}
    page = client.post("/", data=values)
    assert page.status_code == 200
    assert page.text.count("Not scored: the values below break this model") == 2
    assert 'data-variable="age" data-rule="not_a_number"' in page.text
    assert 'data-variable="bmi" data-rule="out_of_range"' in page.text
    assert (
        client.post(
            "/", content=b"\xff\xfe=%%%&&", headers={"content-type": "application/x-www-form-urlencoded"}
        ).status_code
        == 200
    )
    sheet = client.post("/sheet", data=values)
    assert sheet.status_code == 422 and "Not scored" in sheet.text
