"""Integration tests beyond one machine: real PostgreSQL, a real MLflow server, a real (local) Spark.

What they need, and what happens without it:
- PostgreSQL: the URL of a server where the user may create databases, in
  ``SPINEOUTCOME_TEST_PG_URL`` (``eval "$(scripts/pg_test.sh start)"`` starts a throwaway one on
  loopback and prints the export line; ``.ci/run`` does so). Each test works in a fresh database.
- Spark: pyspark and a Java runtime 17+ (``java`` on PATH or ``JAVA_HOME``).

When one is missing the tests that need it are skipped with the reason (shown by ``-ra``), except
in CI (``CI=true``), where they fail: CI must run them, never pass without them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.data.cohort import Cohort
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.experiment import ExperimentResult

PG_ENV = "SPINEOUTCOME_TEST_PG_URL"
REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
MIN_JAVA = 17


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a missing service must never turn into a green run there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_pipeline(directory: Path, name: str = "c5_palsy_tiny", **changes) -> Path:
    """The shipped c5_palsy pipeline with test-sized budgets (and ``changes``), written into ``directory``."""
    spec = yaml.safe_load((builtin_pipelines_dir() / "c5_palsy.yaml").read_text(encoding="utf-8"))
    spec.update(families=["logistic", "xgboost"], tuning={"n_trials": 3, "inner_folds": 2})
    spec["validation"].update(
        folds=3, bootstrap={"replicates": 5, "mode": "fixed_hyperparameters"}, min_centre_events=5
    )
    spec.update(changes)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> str:
    import sqlalchemy

    url = os.environ.get(PG_ENV)
    if not url:
        unavailable(f'{PG_ENV} is not set; start a throwaway PostgreSQL with: eval "$(scripts/pg_test.sh start)"')
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - an explicit URL that does not work is an error, locally too
        pytest.fail(f"{PG_ENV} is set but PostgreSQL cannot be used: {type(exc).__name__}: {exc}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def new_database(pg_url: str) -> Iterator[Callable[[str], str]]:
    """A factory of fresh, empty databases on the test server (dropped at the end of the session)."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return sqlalchemy.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- Java and Spark -----------------------------------------------------------------------------


def java_problem() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'spineoutcome[scale]')"
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else shutil.which("java")
    if java is None:
        return "no Java runtime (java on PATH or JAVA_HOME); Spark 4 needs Java 17+ (Debian: openjdk-17-jre-headless)"
    text = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        return f"cannot read the Java version from: {text.strip()[:200]}"
    major = int(match.group(2)) if match.group(1) == "1" else int(match.group(1))
    if major < MIN_JAVA:
        return f"Java {major} found at {java}; Spark 4 needs Java {MIN_JAVA}+"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    problem = java_problem()
    if problem:
        unavailable(problem)
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("spineoutcome-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# --- A tiny cohort and experiment ---------------------------------------------------------------


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cohort")
    generate_cohort(directory, n=400, seed=1)
    return directory


@pytest.fixture(scope="session")
def cohort(cohort_dir: Path) -> Cohort:
    return load_cohort(cohort_dir)


@pytest.fixture(scope="session")
def experiment(cohort: Cohort, tmp_path_factory: pytest.TempPathFactory) -> ExperimentResult:
    """The tiny pipeline run in memory: the model that the tracking and Spark tests log and score."""
    return run_pipeline(tiny_pipeline(tmp_path_factory.mktemp("pipelines")), cohort)


@pytest.fixture
def restore_tracking_uri() -> Iterator[None]:
    """log_run sets the process's tracking URI (and MLFLOW_TRACKING_URI); put back what was there."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow.set_tracking_uri(previous)
