"""Hospital IT defaults: token, security headers, CORS off, bounded bodies, no patient data in logs,
integrity checked at start-up (exit 3, as ``score``), loopback bind."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from spineoutcome.cli import app as cli
from spineoutcome.serve import TOKEN_ENV, ServeSettings, SettingsError, create_app, load_models
from spineoutcome.serve.security import ACCESS_LOGGER, SECURITY_HEADERS

from .conftest import URIS, Store, free_port

TOKEN = "t0ken-for-tests-only-0123456789"
SECRET_AGE = "73.123456"
SECRET_KEY = "SECRET-PATIENT-4711"


@pytest.fixture(scope="module")
def served(store: Store):
    return load_models(URIS, tracking_uri=store.uri)


def patient(store: Store, **changes: object) -> dict:
    return {**store.patients.iloc[2].to_dict(), **changes}


def test_token_read_from_the_environment_and_enforced(served, store: Store) -> None:
    settings = ServeSettings.from_env(environ={TOKEN_ENV: TOKEN})
    assert TOKEN not in repr(settings)
    client = TestClient(create_app(served, settings))
    body = {"patients": [patient(store)]}
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token-00"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        answer = client.post("/api/v1/predict", json=body, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
        assert client.get("/api/v1/models", headers=headers).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/v1/predict", json=body, headers=good).status_code == 200
    assert client.get("/api/v1/models", headers=good).status_code == 200
    assert client.get("/health").status_code == 200  # liveness stays open
    open_client = TestClient(create_app(served, ServeSettings.from_env(environ={})))
    assert open_client.post("/api/v1/predict", json=body).status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("value", ["", "   ", "abc123xyz"])
def test_empty_or_short_token_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=TOKEN_ENV) as raised:
        ServeSettings.from_env(environ={TOKEN_ENV: value})
    assert value.strip() == "" or value not in str(raised.value)


def test_security_headers_on_every_response(served, store: Store) -> None:
    client = TestClient(create_app(served))
    answers = [
        client.get("/"),
        client.get("/health"),
        client.get("/openapi.json"),
        client.get("/nowhere"),
        client.post("/api/v1/predict", json={"patients": [patient(store)]}),
        client.post("/api/v1/predict", json={"wrong": 1}),
        client.post("/", data={"age": "70"}),
    ]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
        assert "server" not in answer.headers or "uvicorn" not in answer.headers["server"]
    assert "script-src" not in SECURITY_HEADERS["content-security-policy"]  # default-src 'none' forbids scripts
    assert client.get("/docs").status_code == 404  # no Swagger UI loading scripts from the internet


def test_cors_is_off_unless_origins_are_named(served) -> None:
    origin = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}
    closed = TestClient(create_app(served))
    assert "access-control-allow-origin" not in closed.get("/health", headers=origin).headers
    assert "access-control-allow-origin" not in closed.options("/api/v1/predict", headers=origin).headers
    opened = TestClient(create_app(served, ServeSettings(cors_origins=("https://ehr.example",))))
    allowed = opened.options("/api/v1/predict", headers={**origin, "Origin": "https://ehr.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://ehr.example"
    assert "access-control-allow-origin" not in opened.options("/api/v1/predict", headers=origin).headers


def test_only_allowed_host_headers_are_answered(served) -> None:
    """DNS rebinding: a page of another site that resolves to 127.0.0.1 sends its own Host header."""
    client = TestClient(
        create_app(served, ServeSettings(allowed_hosts=("127.0.0.1", "localhost"))), base_url="http://127.0.0.1:8000"
    )
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"host": "localhost:8000"}).status_code == 200
    refused = client.post("/api/v1/predict", json={"patients": []}, headers={"host": "evil.example"})
    assert refused.status_code == 400
    assert refused.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]


def test_request_bodies_are_bounded(served, store: Store) -> None:
    client = TestClient(create_app(served, ServeSettings(max_body_bytes=2_000)))
    big = {"patients": [patient(store)] * 20}
    answer = client.post("/api/v1/predict", json=big)
    assert answer.status_code == 413
    chunked = client.post(
        "/api/v1/predict", content=iter([json.dumps(big).encode()]), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert client.post("/api/v1/predict", json={"patients": [patient(store)]}).status_code == 200


def test_access_log_holds_no_patient_data(served, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(served))
    with caplog.at_level(logging.DEBUG):
        client.post("/api/v1/predict", json={"patients": [patient(store, age=SECRET_AGE, patient_id=SECRET_KEY)]})
        client.post("/", data=patient(store, age=SECRET_AGE))
        client.post("/whatif", data={**patient(store, age=SECRET_AGE), "base.age": SECRET_AGE})
        client.get(f"/?patient={SECRET_KEY}&age={SECRET_AGE}")
        client.get(f"/patients/{SECRET_KEY}")
    access = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(access) == 5
    assert re.search(r'"POST /api/v1/predict" 200 [\d.]+ ms$', access[0])
    assert '"GET /" 200' in access[3] and '"GET (other path)" 404' in access[4]
    server = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))  # the client's own
    assert SECRET_AGE not in server and SECRET_KEY not in server


def test_unhandled_error_is_a_500_logged_without_its_message(
    served, store: Store, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_app(served), raise_server_exceptions=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError(f"age={SECRET_AGE}")

    monkeypatch.setattr(served[0].scorer, "score", broken)
    with caplog.at_level(logging.INFO):
        answer = client.post("/api/v1/predict", json={"patients": [patient(store)]})
    assert answer.status_code == 500 and SECRET_AGE not in answer.text
    assert "unhandled ValueError" in caplog.text and SECRET_AGE not in caplog.text


def test_integrity_failure_refuses_to_start(store: Store, tmp_path: Path, monkeypatch) -> None:
    """A model whose files changed after logging: exit 3 before anything listens, as `score`."""
    import uvicorn

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(uvicorn, "run", never)
    mlflow.set_tracking_uri(store.uri)
    folder = Path(mlflow.artifacts.download_artifacts("models:/c5_palsy/1", dst_path=str(tmp_path / "model")))
    target = next(p for p in folder.rglob("calibration.json"))
    target.write_text(
        target.read_text(encoding="utf-8").replace('"intercept": 0.0', '"intercept": 0.5'), encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["serve", "--model", str(folder)])
    assert result.exit_code == 3, result.output
    assert "do not match the SHA-256" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        cli, ["serve", "--model", URIS[0], "--tracking-uri", store.uri], env={TOKEN_ENV: "short"}
    )
    assert result.exit_code == 3 and TOKEN_ENV in result.output


@pytest.mark.slow
def test_cli_serves_on_loopback_and_logs_no_patient_data(store: Store, tmp_path: Path) -> None:
    """`spineoutcome serve` as a hospital runs it: loopback, token from the environment, stderr log."""
    port = free_port()
    env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    log = (tmp_path / "serve.log").open("w+", encoding="utf-8")
    command = [
        sys.executable,
        "-c",
        "from spineoutcome.cli import app; app()",
        "serve",
        "--model",
        URIS[0],
        "--model",
        URIS[1],
        "--tracking-uri",
        store.uri,
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        answer = httpx.post(
            f"{base}/api/v1/predict",
            headers=headers,
            timeout=60,
            json={"patients": [patient(store, age=SECRET_AGE, patient_id=SECRET_KEY)]},
        )
        assert answer.status_code == 200
        assert [p["probability"] is not None for p in answer.json()["predictions"]] == [True, True]
        assert httpx.post(f"{base}/api/v1/predict", json={"patients": []}, timeout=10).status_code == 401
        assert httpx.post(f"{base}/", data=patient(store, age=SECRET_AGE), timeout=60).status_code == 200
        assert httpx.get(f"{base}/health", headers={"host": "rebound.example"}, timeout=10).status_code == 400
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    text = (tmp_path / "serve.log").read_text(encoding="utf-8")
    assert "verified against the MLflow registry" in text
    assert f"http://127.0.0.1:{port}/" in text and "API token: required" in text
    assert "Host headers: 127.0.0.1, localhost" in text
    assert '"POST /api/v1/predict" 200' in text and '"POST /api/v1/predict" 401' in text
    assert SECRET_AGE not in text and SECRET_KEY not in text and TOKEN not in text
