"""The elastic net's proximal Newton solver and its warm-started path, against scikit-learn's saga and
LogisticRegressionCV on the same folds and grid."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import get_scorer, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from spineoutcome.modeling import TunedClassifier, make_pipeline
from spineoutcome.modeling.elastic_net import ElasticNetLogistic, objective, path_scores, score
from spineoutcome.modeling.search_spaces import FloatRange, Grid

from .conftest import PREDICTORS, make_cohort


def design(n: int, seed: int, collinear: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Standardised correlated predictors, a few with real effects; optionally a duplicated column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)) @ np.linalg.cholesky(0.4 * np.eye(6) + 0.6 * np.ones((6, 6))).T
    if collinear:
        X = np.column_stack([X, X[:, 0]])
    y = rng.binomial(1, 1 / (1 + np.exp(-(-1.5 + X[:, 0] - 0.7 * X[:, 2] + 0.3 * X[:, 4]))))
    return StandardScaler().fit_transform(X), y


def penalised_objective(model, X, y, C, rho, class_weight=None) -> float:
    weight = C * (compute_sample_weight(class_weight, y) if class_weight else np.ones(len(y)))
    full = np.column_stack([np.ones(len(y)), X])
    l1, l2 = np.r_[0.0, np.full(X.shape[1], rho)], np.r_[0.0, np.full(X.shape[1], 1 - rho)]
    return objective(full, y.astype(float), weight, l1, l2, np.r_[model.intercept_, model.coef_[0]])


@pytest.mark.parametrize(
    ("C", "rho", "class_weight", "collinear"),
    [
        (0.05, 0.5, None, False),
        (1.0, 0.8, None, False),
        (10.0, 0.5, "balanced", False),
        (0.3, 0.0, None, True),
        (5.0, 1.0, None, True),
    ],
)
def test_solver_reaches_sagas_optimum(C, rho, class_weight, collinear) -> None:
    """Reference: scikit-learn's saga on the same objective, run to a tolerance of 1e-10."""
    X, y = design(400, seed=1, collinear=collinear)
    ours = ElasticNetLogistic(C=C, l1_ratio=rho, class_weight=class_weight).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saga = LogisticRegression(
            solver="saga", C=C, l1_ratio=rho, class_weight=class_weight, tol=1e-10, max_iter=100_000, random_state=0
        ).fit(X, y)
    f_ours, f_saga = (
        penalised_objective(ours, X, y, C, rho, class_weight),
        penalised_objective(saga, X, y, C, rho, class_weight),
    )
    assert f_ours <= f_saga + 1e-8 * abs(f_saga)
    # saga stops a little short (its intercept most): risks agree to 1e-4
    np.testing.assert_allclose(ours.predict_proba(X), saga.predict_proba(X), atol=1e-4)
    if not collinear:  # with a duplicated column the lasso's coefficients are not unique, its fit is
        np.testing.assert_allclose(ours.coef_, saga.coef_, atol=1e-4)
    assert ours.n_iter_[0] < 30


def test_ridge_end_matches_lbfgs_and_lasso_zeros_noise() -> None:
    X, y = design(500, seed=2)
    ridge = ElasticNetLogistic(C=0.5, l1_ratio=0.0).fit(X, y)
    lbfgs = LogisticRegression(C=0.5, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ridge.coef_, lbfgs.coef_, atol=1e-7)
    np.testing.assert_allclose(ridge.intercept_, lbfgs.intercept_, atol=1e-7)
    lasso = ElasticNetLogistic(C=0.02, l1_ratio=1.0).fit(X, y)
    assert 0 < np.count_nonzero(lasso.coef_) < X.shape[1] and lasso.coef_[0, 0] > 0
    null = ElasticNetLogistic(C=0.005, l1_ratio=0.5).fit(X, y)  # every coefficient zeroed: closed form
    assert not np.any(null.coef_) and null.predict_proba(X)[:, 1] == pytest.approx(y.mean(), abs=1e-12)


def test_warm_start_reaches_the_cold_fit() -> None:
    X, y = design(300, seed=3)
    warm = ElasticNetLogistic(l1_ratio=0.5, warm_start=True)
    for C in (0.01, 0.1, 1.0):
        warm.set_params(C=C).fit(X, y)
    cold = ElasticNetLogistic(C=1.0, l1_ratio=0.5).fit(X, y)
    np.testing.assert_allclose(warm.coef_, cold.coef_, atol=1e-7)
    assert warm.n_iter_[0] <= cold.n_iter_[0]


def test_rejects_bad_settings() -> None:
    X, y = design(50, seed=4)
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNetLogistic(l1_ratio=1.5).fit(X, y)
    with pytest.raises(ValueError, match="C must be"):
        ElasticNetLogistic(C=np.inf).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        ElasticNetLogistic().fit(X, np.zeros(len(y)))


def test_path_scores_and_choice_match_logistic_regression_cv() -> None:
    """Reference: ``LogisticRegressionCV`` (saga, tolerance 1e-10) on the same folds, grid and scorer."""
    X, y = design(300, seed=5)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    Cs, ratios = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0), (0.0, 0.5, 1.0)
    pipeline = Pipeline([("identity", FunctionTransformer()), ("model", ElasticNetLogistic())])
    ours = path_scores(pipeline, X, y, folds, Cs, ratios, "neg_log_loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = LogisticRegressionCV(
            Cs=list(Cs),
            l1_ratios=list(ratios),
            cv=folds,
            solver="saga",
            scoring="neg_log_loss",
            tol=1e-10,
            max_iter=100_000,
            use_legacy_attributes=True,
        ).fit(X, y)
    scores = reference.scores_[1].copy()  # (folds, Cs, l1_ratios)
    # Where the penalty zeroes every coefficient, saga leaves the intercept short of the training
    # prevalence; there the exact score is the closed form: the null model's log-loss.
    null = np.all(np.abs(reference.coefs_paths_[1][..., :-1]) < 1e-8, axis=-1)
    for k, (train, test) in enumerate(folds):
        scores[k][null[k]] = -log_loss(y[test], np.full(len(test), y[train].mean()))
    assert null.sum() >= 5 and (~null).sum() >= 40  # both kinds of grid point are checked
    np.testing.assert_allclose(ours, np.transpose(scores, (2, 1, 0)), atol=1e-6)
    i, j = np.unravel_index(np.argmax(ours.mean(axis=2)), ours.shape[:2])
    assert (Cs[j], ratios[i]) == (reference.C_[0], reference.l1_ratio_[0])


def test_tuned_elastic_net_searches_its_path_on_the_inner_folds(dictionary) -> None:
    """Reference: cold fits of the whole pipeline at every grid point on the same inner folds."""
    X, y = make_cohort(300, seed=6)
    space = {"C": Grid((0.03, 0.3, 3.0)), "l1_ratio": Grid((0.0, 1.0))}
    tuned = TunedClassifier("elastic_net", dictionary, PREDICTORS, inner_cv=3, random_state=4, search_space=space)
    tuned.fit(X, y)
    scorer = get_scorer("neg_log_loss")
    folds = list(StratifiedKFold(3, shuffle=True, random_state=4).split(X, y))
    grid = {
        (C, rho): np.mean(
            [
                scorer(
                    make_pipeline("elastic_net", dictionary, PREDICTORS, {"C": C, "l1_ratio": rho}).fit(
                        X.iloc[tr], y[tr]
                    ),
                    X.iloc[te],
                    y[te],
                )
                for tr, te in folds
            ]
        )
        for C in space["C"].values
        for rho in space["l1_ratio"].values
    }
    best = max(grid, key=grid.get)
    assert (tuned.best_params_["C"], tuned.best_params_["l1_ratio"]) == best
    assert tuned.best_score_ == pytest.approx(grid[best], abs=1e-6)
    summary = tuned.study_summary_
    assert summary["n_trials"] == summary["n_complete"] == 6 and summary["n_pruned"] == 0
    assert summary["sampler"].startswith("warm-started regularisation path")
    plain = make_pipeline("elastic_net", dictionary, PREDICTORS, tuned.best_params_).fit(X, y)
    np.testing.assert_allclose(tuned.predict_proba(X), plain.predict_proba(X), atol=1e-9)


def test_a_continuous_space_is_still_searched_by_optuna(dictionary) -> None:
    X, y = make_cohort(200, seed=7)
    tuned = TunedClassifier(
        "elastic_net",
        dictionary,
        PREDICTORS,
        n_trials=3,
        inner_cv=3,
        search_space={"C": FloatRange(1e-2, 1.0, log=True)},
    ).fit(X, y)
    assert tuned.study_summary_["sampler"].startswith("TPESampler") and tuned.study_summary_["n_trials"] == 3


def test_log_grid_has_the_asked_density() -> None:
    grid = Grid.log(1e-3, 1e2, per_decade=4)
    assert len(grid.values) == 21 and grid.values[0] == pytest.approx(1e-3) and grid.values[-1] == pytest.approx(1e2)
    np.testing.assert_allclose(np.diff(np.log10(grid.values)), 0.25)


def test_path_metrics_are_sklearns() -> None:
    """Reference: scikit-learn's log_loss, roc_auc_score and brier_score_loss on the same risks."""
    from scipy.special import expit
    from sklearn.metrics import brier_score_loss, roc_auc_score

    rng = np.random.default_rng(8)
    eta = rng.normal(-1, 1.5, 500)
    y = rng.random(500) < expit(eta)
    assert score("neg_log_loss", y, eta) == pytest.approx(-log_loss(y, expit(eta)), rel=1e-12)
    assert score("roc_auc", y, eta) == pytest.approx(roc_auc_score(y, eta), rel=1e-12)
    assert score("neg_brier_score", y, eta) == pytest.approx(-brier_score_loss(y, expit(eta)), rel=1e-12)
    with pytest.raises(ValueError, match="unknown metric"):
        score("accuracy", y, eta)
