"""Choosing a model family with its uncertainty: the one-standard-error rule on paired losses.

Families are compared on the same patients' cross-validated (out-of-fold) predictions. With
L_f,i the loss of family f for patient i (log-loss by default, or the Brier score; averaged over
the cross-validation repeats) and b the family with the lowest mean loss,

    D_f = mean_i (L_f,i - L_b,i)            (paired difference from the best; D_b = 0)
    SE(D_f) = SD over bootstrap replicates of D_f (replicates = patients drawn with replacement)

and the winner is the simplest family with D_f <= SE(D_f): the one-standard-error rule of
Breiman et al. (Classification and Regression Trees, 1984, 3.4.3) and Hastie, Tibshirani &
Friedman (Elements of Statistical Learning, 2nd ed., 7.10), applied to a paired comparison. A more
complex family has to beat a simpler one by more than the noise of the comparison; equal losses
to three decimals do not make a winner. Families of equal complexity are ordered by their loss.

Model-selection instability (Riley & Collins, Stat Med 2023; Steyerberg, Clinical Prediction
Models, 2nd ed., 11.9) is reported as how often each family had the lowest loss across the
bootstrap replicates, and how often the one-SE rule, applied to each replicate with the SEs of
the whole sample, would have chosen it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._validation import PROBABILITY_CLIP, as_outcome, as_probability
from .bootstrap import Bootstrap
from .results import JsonResult

Loss = Literal["log_loss", "brier"]


@dataclass(frozen=True)
class FamilyComparison(JsonResult):
    """One family's loss, its paired difference from the best, and its selection frequencies."""

    family: str
    complexity: int
    loss: float
    difference: float
    se_difference: float
    within_one_se: bool
    lowest_loss_frequency: float
    selected_frequency: float


@dataclass(frozen=True)
class ModelSelection(JsonResult):
    """The winner under the one-SE rule, the family with the lowest loss, and every comparison."""

    winner: str
    lowest_loss: str
    loss: str
    rule: str
    families: tuple[FamilyComparison, ...]
    n: int
    n_boot: int
    seed: int | None

    def statement(self) -> str:
        """The rule and the selection frequencies, in one sentence for the Evidence and report."""
        freq = ", ".join(f"{c.family} {c.lowest_loss_frequency:.0%}" for c in self.families)
        return f"{self.rule}; lowest {self.loss.replace('_', '-')} in {self.n_boot} bootstrap replicates: {freq}"


def patient_losses(y: np.ndarray, p: np.ndarray, loss: Loss) -> np.ndarray:
    """Per-patient loss of predictions p (..., n): log-loss with p clipped at PROBABILITY_CLIP, or
    the squared error (Brier)."""
    if loss == "brier":
        return (p - y) ** 2
    if loss == "log_loss":
        q = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
        return -(y * np.log(q) + (1 - y) * np.log1p(-q))
    raise ValueError(f"loss must be 'log_loss' or 'brier', got {loss!r}")


def select_one_se(
    y: Any,
    predictions: Mapping[str, Any],
    complexity: Mapping[str, int],
    *,
    loss: Loss = "log_loss",
    n_boot: int = 1000,
    seed: int | None = None,
) -> ModelSelection:
    """Pick the simplest family whose paired loss difference from the best is within one SE.

    ``predictions`` maps each family to its out-of-fold risks, shape (n,) or (repeats, n) (the
    per-patient loss is averaged over repeats); ``complexity`` ranks the families (0 = simplest).
    The bootstrap is the ordinary bootstrap of patients, seeded by ``seed``.
    """
    y_arr = as_outcome(y)
    names = list(predictions)
    if not names:
        raise ValueError("no families to select from")
    missing = [f for f in names if f not in complexity]
    if missing:
        raise ValueError(f"no complexity rank for famil{'y' if len(missing) == 1 else 'ies'} {missing}")
    losses = np.vstack([_mean_loss(y_arr, predictions[f], loss, f) for f in names])
    boot = Bootstrap.draw(y_arr, n_boot=n_boot, seed=seed)
    point = losses.mean(axis=1)
    reps = boot.weights @ losses.T / y_arr.size
    best = int(np.argmin(point))
    difference = point - point[best]
    se = np.std(reps - reps[:, [best]], axis=0, ddof=1) if n_boot > 1 else np.zeros(len(names))
    eligible = difference <= se
    ranks = np.array([complexity[f] for f in names])
    winner = _simplest(eligible, ranks, point)
    rep_best = np.argmin(reps, axis=1)
    rep_winner = np.array([_simplest(r - r[b] <= se, ranks, r) for r, b in zip(reps, rep_best, strict=True)])
    families = tuple(
        FamilyComparison(
            family=f,
            complexity=int(ranks[i]),
            loss=float(point[i]),
            difference=float(difference[i]),
            se_difference=float(se[i]),
            within_one_se=bool(eligible[i]),
            lowest_loss_frequency=float(np.mean(rep_best == i)),
            selected_frequency=float(np.mean(rep_winner == i)),
        )
        for i, f in enumerate(names)
    )
    rule = (
        f"simplest family whose cross-validated {loss.replace('_', '-')} is within one standard error of the "
        f"lowest (paired bootstrap of patients, {n_boot} replicates)"
    )
    return ModelSelection(
        winner=names[winner],
        lowest_loss=names[best],
        loss=loss,
        rule=rule,
        families=families,
        n=int(y_arr.size),
        n_boot=n_boot,
        seed=seed,
    )


def _mean_loss(y: np.ndarray, p: Any, loss: Loss, family: str) -> np.ndarray:
    arr = np.atleast_2d(np.asarray(p, dtype=float))
    if arr.shape[-1] != y.size:
        raise ValueError(f"predictions of {family!r} have {arr.shape[-1]} patients, outcomes {y.size}")
    for row in arr:
        as_probability(row, name=f"predictions of {family!r}")
    return patient_losses(y, arr, loss).mean(axis=0)


def _simplest(eligible: np.ndarray, ranks: np.ndarray, losses: np.ndarray) -> int:
    """Index of the lowest-ranked eligible family; ties in rank go to the lower loss."""
    candidates = np.flatnonzero(eligible)
    return int(min(candidates, key=lambda i: (ranks[i], losses[i], i)))
