"""Masking of awkward passwords (SQLAlchemy's URL rendering), in URLs, free text and MLflow params; no argv secrets."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from spineoutcome.credentials import MASK, STORAGE_ENV, mask_secrets, mask_url
from spineoutcome.tracking import config_params

AWKWARD = [
    # (url, password the driver would use, masked form)
    ("postgresql://alice:pa/ss@db-host:5432/optuna", "pa/ss", "postgresql://alice:***@db-host:5432/optuna"),
    ("postgresql://alice:pass word@db-host/optuna", "pass word", "postgresql://alice:***@db-host/optuna"),
    ("postgresql://:secret@db-host/optuna", "secret", "postgresql://:***@db-host/optuna"),
    ("postgresql+psycopg://alice:p%40ss:w@db-host/optuna", "p@ss:w", "postgresql+psycopg://alice:***@db-host/optuna"),
    ("postgresql://alice:a?b#c@db-host/optuna", "a?b#c", "postgresql://alice:***@db-host/optuna"),
]


@pytest.mark.parametrize(("url", "password", "masked"), AWKWARD)
def test_awkward_passwords_are_masked_where_the_driver_reads_them(url: str, password: str, masked: str) -> None:
    assert make_url(url).password == password  # the reference: what the driver will send
    assert mask_url(url) == masked
    text = mask_secrets(f'storage "{url}" refused: timeout')
    assert password not in text and MASK in text
    assert mask_secrets(url) == masked


def test_passwords_in_the_query_string_are_masked() -> None:
    url = "postgresql://alice@db-host/optuna?sslmode=require&password=hunter2"
    masked = mask_url(url)  # SQLAlchemy renders the query keys sorted
    assert "hunter2" not in masked and "password=***" in masked and "sslmode=require" in masked
    assert "hunter2" not in mask_secrets(f"cannot connect to {url}: refused")
    assert mask_url("http://mlflow:5000/api?token=abc&x=1") == "http://mlflow:5000/api?token=***&x=1"


def test_urls_without_secrets_are_unchanged() -> None:
    for url in (
        "sqlite:///mlruns.db",
        "sqlite:////abs/path/optuna.db",
        "http://mlflow-host:5000",
        "postgresql://alice@db-host:5432/optuna",
        "models:/c5_palsy@champion",
        "file:///tmp/x",
    ):
        assert mask_url(url) == url
        assert mask_secrets(f"using {url} now") == f"using {url} now"


@pytest.mark.parametrize(("url", "password", "masked"), AWKWARD)
def test_mlflow_params_and_the_evidence_config_hold_no_password(url: str, password: str, masked: str) -> None:
    from spineoutcome.config import PipelineConfig

    pipeline = PipelineConfig.model_validate(
        {
            "name": "t",
            "outcome": "c5_palsy",
            "families": ["logistic"],
            "predictors": {"include": ["age"]},
            "tuning": {"storage": url},
        }
    ).model_dump(mode="json")
    params = config_params(pipeline)
    assert params["tuning.storage"] == masked
    assert all(password not in value for value in params.values())


def test_storage_urls_come_from_the_environment_not_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    from spineoutcome.cli import app

    url = "postgresql://alice:pa/ss word@127.0.0.1:1/none"
    monkeypatch.setenv(STORAGE_ENV, url)
    result = CliRunner().invoke(app, ["optuna-init"])
    assert result.exit_code == 3  # nothing listens there; the URL was read from the environment
    assert "pa/ss word" not in result.output and "alice:***@" in result.output
    monkeypatch.delenv(STORAGE_ENV)
    typed = CliRunner().invoke(app, ["optuna-init", url])
    assert "password is on the command line" in " ".join(typed.output.split()) and "pa/ss word" not in typed.output
    help_text = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    assert STORAGE_ENV in help_text
