"""The ``spineoutcome serve`` command (registered in :mod:`spineoutcome.cli`).

Loads and verifies every model first (an integrity failure, a missing model or Evidence: exit 3
before anything listens, as ``score``), then serves the app with uvicorn. Logs go to stderr: one
access line per request without patient data (:mod:`.security`), uvicorn's own access log off.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from spineoutcome.serve.settings import LOOPBACK, LOOPBACK_NAMES, TOKEN_ENV

EXIT_FILE_ERROR = 3  # as spineoutcome.cli
console = Console(stderr=True, soft_wrap=True)  # log-like lines: never wrapped


def log_config(level: str = "info") -> dict[str, Any]:
    """Logging for uvicorn and the app: plain lines on stderr; uvicorn's access logger silenced."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "spineoutcome.serve": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


def serve(
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            help="Model to serve: MLflow URI (models:/c5_palsy@champion, models:/c5_palsy/3, runs:/<run>/model) "
            "or a local model folder. Repeat for several models (all shown at once).",
        ),
    ],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind. Default loopback only; 0.0.0.0 opens it to the network.")
    ] = LOOPBACK,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    token_env: Annotated[
        str,
        typer.Option(
            "--token-env",
            help="Environment variable holding the API's bearer token (unset: no token). The token "
            "itself is never given on the command line.",
        ),
    ] = TOKEN_ENV,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host header to answer (repeatable; e.g. the name the hospital's proxy passes on). "
            "Default: the loopback names when bound to loopback, any host otherwise.",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="Allow browser requests from this origin (repeatable). Default: CORS off."),
    ] = None,
    max_patients: Annotated[
        int, typer.Option("--max-patients", min=1, help="Largest number of patients in one API request.")
    ] = 10_000,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            "--ssl-certfile", help="Serve HTTPS with this certificate (usually TLS ends at the hospital's proxy)."
        ),
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="Private key of --ssl-certfile.")] = None,
    allow_unverified: Annotated[
        bool, typer.Option("--allow-unverified", help="Accept a model for which no SHA-256 of its files was recorded.")
    ] = False,
    dictionary: Annotated[
        Path | None,
        typer.Option("--dictionary", help="Directory of a hospital's own data dictionary (default: the built-in one)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the surgeon's risk calculator (web page) and the EHR's JSON API for one or more models.

    Every model is loaded and its files checked against the SHA-256 recorded in MLflow before the server
    starts (exit 3 on a mismatch, as `score`). Patient values are never logged.
    """
    import uvicorn

    from spineoutcome.dictionary import DataDictionary, DictionaryError
    from spineoutcome.scoring import ModelLoadError
    from spineoutcome.serve.app import create_app
    from spineoutcome.serve.models import load_models
    from spineoutcome.serve.settings import ServeSettings, SettingsError

    started = time.perf_counter()
    if (ssl_certfile is None) != (ssl_keyfile is None):
        console.print("Cannot serve: give both --ssl-certfile and --ssl-keyfile, or neither.", style="red")
        raise typer.Exit(EXIT_FILE_ERROR)
    try:
        settings = ServeSettings.from_env(
            token_env=token_env,
            host=host,
            port=port,
            cors_origins=tuple(cors_origin or ()),
            max_patients=max_patients,
            tls=ssl_certfile is not None,
            allowed_hosts=_allowed_hosts(host, allowed_host),
        )
        dd = DataDictionary.load(dictionary)
        served = load_models(model, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
        app = create_app(served, settings, dictionary=dd)
    except (ModelLoadError, SettingsError, DictionaryError) as exc:
        console.print(f"Cannot serve: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_FILE_ERROR) from None
    for s in served:
        console.print(
            f"{s.name}: {s.model.uri} ({s.model.bundle.manifest.get('family')}); {s.model.integrity}",
            markup=False,
            highlight=False,
        )
    scheme = "https" if settings.tls else "http"
    token = f"required ({token_env})" if settings.token else "none"
    hosts = ", ".join(settings.allowed_hosts) if settings.allowed_hosts is not None else "any"
    console.print(
        f"API token: {token}; CORS: {', '.join(settings.cors_origins) or 'off'}; Host headers: {hosts}; "
        "models ready in "
        f"{time.perf_counter() - started:.1f} s; calculator at {scheme}://{host}:{port}/",
        markup=False,
        highlight=False,
    )
    if host != LOOPBACK and host != "localhost" and not settings.token:
        console.print(
            f"Warning: listening on {host} without an API token; set {token_env} or bind to {LOOPBACK} "
            "behind the hospital's reverse proxy.",
            style="yellow",
            markup=False,
            highlight=False,
        )
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        server_header=False,
        log_config=log_config(log_level),
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


def _allowed_hosts(host: str, given: list[str] | None) -> tuple[str, ...] | None:
    """The Host headers to answer: those given, else the loopback names when bound to loopback, else any."""
    if given:
        return tuple(given)
    return LOOPBACK_NAMES if host in LOOPBACK_NAMES or host == "::1" else None
