"""Case-mix of a validation site compared with the development data.

Three views (Debray et al., A new framework to enhance the interpretation of external validation
studies of clinical prediction models, J Clin Epidemiol 2015;68:279-89):

- the **linear predictor** (logit of the model's risk) at the site, mean and SD, beside the
  development's: a larger SD means a more heterogeneous case-mix (discrimination can rise), a
  shifted mean a different baseline risk profile;
- the **membership model**: a logistic regression that predicts whether a patient belongs to the
  site or to the development data from the predictors (as the model's preprocessing codes them)
  and the outcome. Its c-statistic near 0.5 means similar case-mix (the validation tests
  reproducibility); near 1 very different case-mix (it tests transportability). It needs the
  development rows, which a bundle never carries: it is computed when the development data are
  supplied, and said to be missing otherwise;
- each predictor's **distribution**, development vs site, from aggregates (no extreme values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from spineoutcome.bundle import ModelBundle
from spineoutcome.evaluation import PROBABILITY_CLIP, roc_auc

SMALL_CELL = 5
MEMBERSHIP_PENALTY_C = 1.0


def linear_predictor(p: np.ndarray) -> np.ndarray:
    """logit of the model's risks, clipped as the evaluation package clips them."""
    return logit(np.clip(np.asarray(p, dtype=float), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP))


def lp_summary(p: np.ndarray) -> dict[str, float]:
    """Mean and SD of the linear predictor (log-odds) of the risks ``p``: the case-mix summary of Debray et al."""
    lp = linear_predictor(p)
    return {"mean": float(lp.mean()), "sd": float(lp.std(ddof=1)) if lp.size > 1 else float("nan"), "n": int(lp.size)}


def membership_model(
    bundle: ModelBundle, development: pd.DataFrame, y_development: np.ndarray, site: pd.DataFrame, y_site: np.ndarray
) -> dict[str, Any]:
    """c-statistic (with DeLong CI) of the membership model (module docstring).

    Design: the model's preprocessing of the predictors (fitted in development; imputed, coded,
    splines) standardised, plus the outcome; ridge-penalised logistic regression (C = 1) so that
    sparse categories do not separate. The c-statistic is apparent (as in Debray et al.).
    """
    preprocess = bundle.pipeline.named_steps["preprocess"]
    design = pd.concat([preprocess.transform(development), preprocess.transform(site)], ignore_index=True)
    design["outcome"] = np.concatenate([y_development, y_site]).astype(float)
    member = np.concatenate([np.zeros(len(development), dtype=int), np.ones(len(site), dtype=int)])
    z = StandardScaler().fit_transform(design.to_numpy(dtype=float))
    fitted = LogisticRegression(C=MEMBERSHIP_PENALTY_C, max_iter=2000).fit(z, member)
    auc = roc_auc(member, fitted.predict_proba(z)[:, 1], ci_method="delong").auc
    return {
        "c_statistic": auc.to_dict(),
        "n_development": int(len(development)),
        "n_site": int(len(site)),
        "design_columns": int(design.shape[1]),
        "penalty": f"ridge, C = {MEMBERSHIP_PENALTY_C:g}, standardised",
        "reading": membership_reading(auc.value),
    }


def membership_reading(c: float) -> str:
    """Plain reading of the membership model's c-statistic (Debray et al. 2015): how different the case-mix is."""
    if c < 0.6:
        return "similar case-mix: the validation mainly tests reproducibility"
    if c < 0.75:
        return "moderately different case-mix: the validation tests reproducibility and transportability"
    return "very different case-mix: the validation tests transportability"


def predictor_distributions(summary: Mapping[str, Mapping[str, Any]], site: pd.DataFrame) -> list[dict[str, Any]]:
    """Per predictor: development vs site mean, SD and quartiles (numbers) or level shares (categories),
    and the missing share; site shares of fewer than :data:`SMALL_CELL` patients are suppressed."""
    rows = []
    n = len(site)
    for name, dev in summary.items():
        values = site[name]
        row: dict[str, Any] = {
            "name": name,
            "development_missing": dev.get("missing_fraction"),
            "site_missing": float(values.isna().mean()) if n else None,
        }
        if "frequencies" in dev:
            present = values.dropna().astype(object).map(str)
            counts = present.value_counts()
            row["kind"] = "levels"
            row["levels"] = [
                {
                    "level": str(level),
                    "development": float(share),
                    "site": _share(int(counts.get(str(level), 0)), len(present)),
                }
                for level, share in dev["frequencies"].items()
            ]
        else:
            numbers = values.astype("Float64").astype("float64").dropna()
            quantiles = dev.get("quantiles") or {}
            row["kind"] = "numbers"
            row["development"] = {
                "mean": dev.get("mean"),
                "sd": dev.get("sd"),
                "q25": quantiles.get("q25"),
                "q50": quantiles.get("q50"),
                "q75": quantiles.get("q75"),
            }
            row["site"] = (
                {
                    "mean": float(numbers.mean()),
                    "sd": float(numbers.std(ddof=1)),
                    "q25": float(numbers.quantile(0.25)),
                    "q50": float(numbers.quantile(0.5)),
                    "q75": float(numbers.quantile(0.75)),
                }
                if len(numbers) >= SMALL_CELL
                else None
            )
            sd = dev.get("sd")
            if row["site"] is not None and sd:
                row["standardised_difference"] = (row["site"]["mean"] - dev["mean"]) / sd
        rows.append(row)
    return rows


def _share(count: int, total: int) -> float | None:
    """A share, or None when it rests on fewer than SMALL_CELL patients (small-cell rule)."""
    if total == 0 or 0 < count < SMALL_CELL:
        return None
    return count / total
