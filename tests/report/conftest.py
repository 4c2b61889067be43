"""One tiny run per session (synthetic cohort, two families, minimal tuning and resampling), rendered
once. The Evidence comes from the current code, so the report is always tested against the current
Evidence schema (no committed JSON fixture to go stale)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.data.synth import generate_cohort

N_PATIENTS = 500
SEED = 11
BINARY = {
    "name": "c5_palsy_tiny",
    "description": "Risk of C5 palsy within 21 days after surgery for OPLL or degenerative cervical myelopathy.",
    "outcome": "c5_palsy",
    "predictors": {
        "include": [
            "age",
            "sex",
            "diabetes",
            "diagnosis",
            "approach",
            "planned_levels",
            "deltoid_mmt_pre_left",
            "c1_c3_involvement",
            "occupying_ratio",
            "mjoa_baseline",
        ]
    },
    "spline_knots": 3,
    "families": ["logistic", "xgboost"],
    "tuning": {"n_trials": 2, "inner_folds": 2, "metric": "neg_log_loss"},
    "validation": {
        "folds": 3,
        "repeats": 1,
        "bootstrap": {"replicates": 10, "mode": "fixed_hyperparameters"},
        "internal_external": True,
        "min_centre_events": 3,
    },
    "thresholds": [0.05, 0.10, 0.20],
    "subgroups": {"variables": ["sex", "age_group", "centre"], "min_events": 5},
    "comparators": [
        {
            "name": "C4-5 foraminal stenosis",
            "rule": "c45_foraminal_stenosis",
            "source": "Gu Y, et al. PLoS One 2014;9(8):e101933.",
        },
        {"name": "occupying ratio", "score": "occupying_ratio", "source": "Iwasaki M, et al. Spine 2007;32:647-653."},
    ],
    "seed": 2026,
}
SURVIVAL = {
    "name": "progression_time_tiny",
    "description": "Time to OPLL progression (>= 2 mm growth), interval-censored by CT visit.",
    "outcome": "progression_time",
    "eligibility": {"diagnosis": ["OPLL"]},
    "predictors": {
        "include": ["age", "sex", "diabetes", "approach", "opll_type", "ossified_levels", "occupying_ratio"]
    },
    "families": [],
    "survival_families": ["weibull_aft", "xgboost_aft"],
    "horizon_days": 730,
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "thresholds": [0.2, 0.3],
    "subgroups": {"variables": ["sex"], "min_events": 10},
    "seed": 2026,
}


@dataclass(frozen=True)
class Rendered:
    evidence: dict[str, Any]
    pdf: Path
    text: str
    layout: str
    figures: Path


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} (poppler-utils) is required: apt-get install -y poppler-utils")
    return path


def normalise(text: str) -> str:
    """Whitespace as single spaces; invisible break opportunities removed."""
    text = text.replace("\u200b", "").replace("\u2060", "").replace("\u00ad", "")
    return re.sub(r"\s+", " ", text)


def pages(pdf: Path) -> int:
    info = subprocess.run([tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))


def pdf_text(pdf: Path, layout: bool = False) -> str:
    args = [tool("pdftotext"), *(["-layout"] if layout else []), str(pdf), "-"]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report-cohort")
    generate_cohort(path, n=N_PATIENTS, seed=SEED)
    return path


@pytest.fixture(scope="session")
def cohort(cohort_dir: Path):
    return load_cohort(cohort_dir)


def _run(spec: dict[str, Any], cohort, directory: Path) -> dict[str, Any]:
    path = directory / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return run_pipeline(path, cohort).evidence.to_dict()


@pytest.fixture(scope="session")
def binary_evidence(cohort, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(BINARY, cohort, tmp_path_factory.mktemp("pipelines"))


@pytest.fixture(scope="session")
def survival_evidence(cohort, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(SURVIVAL, cohort, tmp_path_factory.mktemp("pipelines-survival"))


def _render(evidence: dict[str, Any], directory: Path) -> Rendered:
    from spineoutcome.report import render_report

    pdf = render_report(evidence, directory / "report.pdf", figures_dir=directory / "figures")
    return Rendered(evidence, pdf, pdf_text(pdf), pdf_text(pdf, layout=True), directory / "figures")


@pytest.fixture(scope="session")
def binary_report(binary_evidence: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return _render(binary_evidence, tmp_path_factory.mktemp("report-binary"))


@pytest.fixture(scope="session")
def survival_report(survival_evidence: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return _render(survival_evidence, tmp_path_factory.mktemp("report-survival"))
