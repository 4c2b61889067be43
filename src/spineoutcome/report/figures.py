"""The report's figures, drawn with matplotlib from Evidence aggregates only.

Every figure is drawn at the width it has on the page (``TEXT_WIDTH`` inches, A4 with 2 cm margins)
so its 8-9 pt labels stay 8-9 pt in the PDF. Figures are SVG with text kept as text (the PDF is
searchable); the report embeds the same DejaVu Sans font that matplotlib ships. Colours are the
Okabe-Ito palette (colour-blind safe), one fixed colour per model family across all figures.
Tick labels use the report's number format (``numbers.py``): a true minus sign, fixed decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from . import numbers as fmt

TEXT_WIDTH = 6.69  # inches: 17 cm
FAMILY_COLOURS = {
    "logistic": "#0072B2", "elastic_net": "#56B4E9", "xgboost": "#D55E00", "lightgbm": "#009E73",
    "random_forest": "#CC79A7", "weibull_aft": "#0072B2", "xgboost_aft": "#D55E00",
}
FAMILY_NAMES = {
    "logistic": "Logistic regression", "elastic_net": "Elastic net", "xgboost": "XGBoost",
    "lightgbm": "LightGBM", "random_forest": "Random forest", "weibull_aft": "Weibull AFT",
    "xgboost_aft": "XGBoost AFT",
}
GREY = "#555555"
LIGHT = "#BBBBBB"
RISK_GROUP_COLOURS = ["#0072B2", "#E69F00", "#D55E00", "#CC79A7", "#009E73"]

STYLE = {
    "font.family": "DejaVu Sans", "font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 7.5, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#E6E6E6",
    "grid.linewidth": 0.6, "axes.axisbelow": True, "lines.linewidth": 1.6, "svg.fonttype": "none",
    "axes.titleweight": "bold", "axes.titlelocation": "left", "figure.dpi": 100,
    "axes.unicode_minus": True,
}


def family_name(family: str) -> str:
    return FAMILY_NAMES.get(family, family.replace("_", " "))


def family_colour(family: str, i: int = 0) -> str:
    return FAMILY_COLOURS.get(family, ["#000000", "#E69F00", "#999999"][i % 3])


def _ticks(kind: str = "default", digits: int | None = None) -> FuncFormatter:
    return FuncFormatter(lambda v, _pos: fmt.num(v, kind, digits=digits))


def _pct_ticks() -> FuncFormatter:
    return FuncFormatter(lambda v, _pos: f"{fmt.num(100 * v, digits=0)} %")


def _log_ticks(axis: Any) -> None:
    """Readable ticks on a log-scaled ratio axis (O:E, odds ratios): 0.25, 0.5, 1, 2, 4, ..."""
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.set_major_locator(FixedLocator([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 25.0, 50.0]))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(
        lambda v, _p: fmt.num(v, digits=2 if v < 0.5 else (1 if v < 1 else 0))))


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", pad_inches=0.04, metadata={"Date": None})
    plt.close(fig)
    return path


def _nice_upper(x: float) -> float:
    """A round axis limit just above x (0.05 steps below 0.3, 0.1 steps above)."""
    step = 0.05 if x < 0.3 else 0.1
    return min(1.0, math.ceil(x / step + 1e-9) * step)


# ---------------------------------------------------------------- discrimination


def roc_curves(families: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Cross-validated ROC curves of every family, with the prespecified thresholds marked."""
    curves = {f: r["cross_validation"].get("roc") for f, r in families.items()}
    if not any(curves.values()):
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.62, TEXT_WIDTH * 0.56))
        ax.plot([0, 1], [0, 1], color=LIGHT, lw=1, ls="--", label="No discrimination")
        markers = ["o", "s", "^", "D", "v"]
        for i, (family, roc) in enumerate(curves.items()):
            if not roc:
                continue
            cv = families[family]["cross_validation"]
            auc = cv["discrimination"]["auc"]
            colour = family_colour(family, i)
            ax.plot(roc["false_positive_rate"], roc["true_positive_rate"], color=colour,
                    label=f"{family_name(family)}: AUC {fmt.est(auc, 'auc')}")
            for j, row in enumerate(cv.get("classification", {}).get("rows", [])):
                sens, spec = row["sensitivity"]["value"], row["specificity"]["value"]
                if sens is None or spec is None:
                    continue
                ax.plot(1 - spec, sens, marker=markers[j % len(markers)], ms=5, color=colour, mec="white", mew=0.6,
                        ls="none")
        rows = next((r["cross_validation"].get("classification", {}).get("rows", []) for r in families.values()), [])
        for j, row in enumerate(rows):
            ax.plot([], [], marker=markers[j % len(markers)], color=GREY, ls="none", ms=5,
                    label=f"threshold {fmt.threshold(row['threshold'])}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("1 − specificity (false-positive rate)")
        ax.set_ylabel("Sensitivity (true-positive rate)")
        ax.xaxis.set_major_formatter(_ticks(digits=1))
        ax.yaxis.set_major_formatter(_ticks(digits=1))
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
        return _save(fig, path)


# ---------------------------------------------------------------- calibration


def calibration_curves(families: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Flexible (loess) calibration curve with its bootstrap band, one panel per family."""
    items = [(f, r["cross_validation"]) for f, r in families.items() if r["cross_validation"].get("calibration_curve")]
    if not items:
        return None
    upper = 0.0
    for _, cv in items:
        upper = max(upper, max(v for v in cv["calibration_curve"]["predicted"] if v is not None))
    upper = _nice_upper(upper)
    ncol = 2 if len(items) > 1 else 1
    nrow = math.ceil(len(items) / ncol)
    width = TEXT_WIDTH if ncol == 2 else TEXT_WIDTH * 0.55
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrow, ncol, figsize=(width, 2.8 * nrow + 0.3), squeeze=False)
        for k, (family, cv) in enumerate(items):
            ax = axes[k // ncol][k % ncol]
            curve, cal = cv["calibration_curve"], cv["calibration"]
            x = np.asarray(curve["predicted"], dtype=float)
            colour = family_colour(family, k)
            lo = np.asarray([np.nan if v is None else v for v in curve.get("observed_ci_low", [])], dtype=float)
            hi = np.asarray([np.nan if v is None else v for v in curve.get("observed_ci_high", [])], dtype=float)
            ax.plot([0, upper], [0, upper], color=LIGHT, ls="--", lw=1)
            if lo.size == x.size:
                ax.fill_between(x, np.clip(lo, 0, 1), np.clip(hi, 0, 1), color=colour, alpha=0.18, lw=0,
                                label="95 % bootstrap band")
            y = np.asarray([np.nan if v is None else v for v in curve["observed"]], dtype=float)
            ax.plot(x, y, color=colour, label="Loess calibration curve")
            ax.set_xlim(0, upper)
            ax.set_ylim(0, upper)
            ax.set_aspect("equal")
            ax.set_title(family_name(family))
            ax.set_xlabel("Predicted risk")
            ax.set_ylabel("Observed proportion")
            ax.xaxis.set_major_formatter(_pct_ticks())
            ax.yaxis.set_major_formatter(_pct_ticks())
            text = "\n".join([
                f"CITL {fmt.point(cal.get('citl'), 'citl')}", f"Slope {fmt.point(cal.get('slope'), 'slope')}",
                f"O:E {fmt.point(cal.get('oe_ratio'), 'oe')}", f"ICI {fmt.point(curve.get('ici'), 'ici')}",
                f"E50 {fmt.point(curve.get('e50'), 'e50')}", f"E90 {fmt.point(curve.get('e90'), 'e90')}"])
            ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=7.5,
                    bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": LIGHT, "lw": 0.6})
        for k in range(len(items), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.tight_layout(w_pad=2.0, h_pad=1.2, rect=(0, 0.05, 1, 1))
        handles, labels = axes[0][0].get_legend_handles_labels()
        diag = plt.Line2D([], [], color=LIGHT, ls="--", lw=1)
        fig.legend([*handles, diag], [*labels, "Perfect calibration"], loc="lower center", ncol=3,
                   bbox_to_anchor=(0.5, 0.0))
        return _save(fig, path)


# ---------------------------------------------------------------- clinical utility


def decision_curves(families: dict[str, dict[str, Any]], thresholds: Sequence[float], best: str,
                    path: Path) -> Path | None:
    """Net benefit of every family against treat-all and treat-none over a clinical range."""
    curves = {f: r["cross_validation"].get("decision_curve") for f, r in families.items()}
    curves = {f: c for f, c in curves.items() if c}
    if not curves:
        return None
    any_curve = next(iter(curves.values()))
    prevalence = any_curve.get("prevalence") or 0.0
    x_max = _nice_upper(max([*thresholds, prevalence * 2, 0.1]) * 1.6)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH, 3.2))
        t = np.asarray(any_curve["thresholds"], dtype=float)
        keep = t <= x_max
        ax.axhline(0, color="black", lw=1, label="Treat none")
        ax.plot(t[keep], np.asarray(any_curve["nb_all"], dtype=float)[keep], color=GREY, lw=1.2, ls="--",
                label="Treat all")
        for i, (family, c) in enumerate(curves.items()):
            colour = family_colour(family, i)
            nb = np.asarray([np.nan if v is None else v for v in c["nb_model"]], dtype=float)
            ax.plot(t[keep], nb[keep], color=colour, label=family_name(family) + (" (best)" if family == best else ""))
            ci = (c.get("ci") or {}).get("nb_model")
            if family == best and ci:
                lo = np.asarray([np.nan if v is None else v for v in ci[0]], dtype=float)
                hi = np.asarray([np.nan if v is None else v for v in ci[1]], dtype=float)
                ax.fill_between(t[keep], lo[keep], hi[keep], color=colour, alpha=0.15, lw=0,
                                label=f"{family_name(family)}: 95 % CI")
        for th in thresholds:
            ax.axvline(th, color=LIGHT, lw=0.8, ls=":")
        top = max(prevalence * 1.15, 0.01)
        ax.set_ylim(-top * 0.35, top)
        ax.set_xlim(0, x_max)
        ax.set_xlabel("Threshold probability (risk above which surgery would be changed)")
        ax.set_ylabel("Net benefit (true positives per patient)")
        ax.xaxis.set_major_formatter(_pct_ticks())
        ax.yaxis.set_major_formatter(_ticks("nb"))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _save(fig, path)


# ---------------------------------------------------------------- forest plots


def _forest_panel(ax: Any, rows: list[dict[str, Any]], key: str, *, log: bool = False, ref: float | None = None,
                  colours: dict[str, str], offsets: dict[str, float], kind: str, title: str, xlabel: str) -> None:
    for row in rows:
        for family, values in row["values"].items():
            v = values.get(key)
            if not v or v.get("value") is None:
                continue
            y = row["y"] + offsets[family]
            lo, hi = v.get("ci_low"), v.get("ci_high")
            if lo is not None and hi is not None:
                ax.plot([lo, hi], [y, y], color=colours[family], lw=1.2)
            marker = "D" if row.get("marker") == "D" else ("o" if family == "logistic" else "s")
            ax.plot(v["value"], y, marker=marker, color=colours[family], ms=6 if marker == "D" else 4.5, ls="none")
    if ref is not None:
        ax.axvline(ref, color=GREY, lw=0.8, ls="--")
    if log:
        ax.set_xscale("log")
        _log_ticks(ax.xaxis)
    else:
        ax.xaxis.set_major_formatter(_ticks(kind))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)


def _clip_ci(values: dict[str, Any] | None, lo: float, hi: float) -> dict[str, Any] | None:
    """Clip an interval to the panel so one absurd bound cannot squash every other row."""
    if not values or values.get("value") is None:
        return values
    out = dict(values)
    for k in ("ci_low", "ci_high"):
        if out.get(k) is not None:
            out[k] = min(max(out[k], lo), hi)
    if not lo <= out["value"] <= hi:
        return None
    return out


def subgroup_forest(subgroups: dict[str, list[dict[str, Any]]], path: Path) -> Path | None:
    """AUC, O:E ratio and calibration slope per subgroup, for the families given (tidy Evidence rows).

    Subgroups with too few events are listed with that status and no estimate.
    """
    families = [f for f, rows in subgroups.items() if rows]
    if not families:
        return None
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for family in families:
        for r in subgroups[family]:
            key = (r["grouping"], r["group"])
            entry = index.setdefault(key, {"grouping": r["grouping"], "group": r["group"], "n": r["n"],
                                           "n_events": r["n_events"], "status": r["status"], "values": {}})
            if r["metric"] in ("auc", "oe_ratio", "slope"):
                entry["values"].setdefault(family, {})[r["metric"]] = {
                    "value": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
            if r["status"] == "too_few_events":
                entry["status"] = r["status"]
    rows = list(index.values())
    labels, y = [], 0.0
    plotted: list[dict[str, Any]] = []
    previous = None
    for entry in rows:
        if entry["grouping"] != previous and entry["grouping"] != "overall":
            y += 0.4
            labels.append((y, entry["grouping"].replace("_", " "), True))
            y += 1
        previous = entry["grouping"]
        name = "All patients" if entry["grouping"] == "overall" else f"   {entry['group']}"
        labels.append((y, f"{name}  ({fmt.integer(entry['n'])}; {fmt.integer(entry['n_events'])} events)", False))
        for fam in families:
            vals = entry["values"].get(fam, {})
            entry["values"][fam] = {"auc": _clip_ci(vals.get("auc"), 0.3, 1.0),
                                    "oe_ratio": _clip_ci(vals.get("oe_ratio"), 0.2, 5.0),
                                    "slope": _clip_ci(vals.get("slope"), -1.0, 3.0)}
        plotted.append({"y": y, "values": entry["values"], "status": entry["status"],
                        "marker": "D" if entry["grouping"] == "overall" else "s"})
        y += 1
    colours = {f: family_colour(f, i) for i, f in enumerate(families)}
    offsets = {f: (i - (len(families) - 1) / 2) * 0.28 for i, f in enumerate(families)}
    height = 0.9 + 0.19 * y
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(TEXT_WIDTH, height), sharey=True,
                                 gridspec_kw={"width_ratios": [1, 1, 1]})
        overall = next((e for e in rows if e["grouping"] == "overall"), None)
        ref_auc = None
        if overall:
            first = overall["values"].get(families[0], {}).get("auc")
            ref_auc = first["value"] if first else None
        _forest_panel(axes[0], plotted, "auc", ref=ref_auc, colours=colours, offsets=offsets, kind="auc",
                      title="AUC", xlabel="AUC")
        _forest_panel(axes[1], plotted, "oe_ratio", log=True, ref=1.0, colours=colours, offsets=offsets, kind="oe",
                      title="O:E ratio", xlabel="O:E ratio (log scale)")
        _forest_panel(axes[2], plotted, "slope", ref=1.0, colours=colours, offsets=offsets, kind="slope",
                      title="Calibration slope", xlabel="Slope")
        for row in plotted:
            if row["status"] != "ok":
                axes[1].text(0.5, row["y"], "too few events to estimate" if row["status"] == "too_few_events"
                             else row["status"], transform=axes[1].get_yaxis_transform(), ha="center", va="center",
                             fontsize=7, color=GREY, style="italic")
        axes[0].set_yticks([p for p, _, _ in labels])
        axes[0].set_yticklabels([t for _, t, _ in labels])
        for tick, (_, _, head) in zip(axes[0].get_yticklabels(), labels, strict=True):
            if head:
                tick.set_fontweight("bold")
        axes[0].tick_params(axis="y", length=0)
        axes[0].set_ylim(y, -0.6)
        for f in families:
            axes[2].plot([], [], marker="o" if f == "logistic" else "s", color=colours[f], label=family_name(f), lw=1.2)
        fig.legend(*axes[2].get_legend_handles_labels(), loc="lower center", ncol=len(families),
                   bbox_to_anchor=(0.6, -0.02 - 0.25 / height))
        fig.tight_layout(w_pad=1.0)
        return _save(fig, path)


def centre_forest(heterogeneity: dict[str, Any], family: str, path: Path) -> Path | None:
    """Internal-external validation: per-centre AUC, O:E and slope, the random-effects pooled
    estimate (diamond) and the 95 % prediction interval for a new centre (bar)."""
    centres = heterogeneity.get("centres") or []
    if not centres:
        return None
    pooled = heterogeneity.get("pooled") or {}
    panels = [
        ("auc", "AUC", "AUC", heterogeneity.get("pooled_auc"), heterogeneity.get("pooled_auc_prediction_interval"),
         False, None, "auc"),
        ("oe_ratio", "O:E ratio", "O:E ratio (log scale)", heterogeneity.get("pooled_oe_ratio"),
         heterogeneity.get("pooled_oe_prediction_interval"), True, 1.0, "oe"),
        ("slope", "Calibration slope", "Slope", (pooled.get("slope") or {}).get("estimate"),
         (pooled.get("slope") or {}).get("prediction_interval"), False, 1.0, "slope"),
    ]
    n_rows = len(centres) + 2
    colour = family_colour(family)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(TEXT_WIDTH, 0.9 + 0.24 * n_rows), sharey=True)
        labels = [f"{c['centre']}  ({fmt.integer(c['n'])}; {fmt.integer(c['n_events'])} events)" for c in centres]
        labels += ["Pooled (random effects)", "95 % prediction interval"]
        bounds = {"auc": (0.2, 1.0), "oe_ratio": (0.1, 10.0), "slope": (-1.5, 3.5)}
        for ax, (key, title, xlabel, pooled_est, pi, log, ref, kind) in zip(axes, panels, strict=True):
            lo_b, hi_b = bounds[key]
            for i, c in enumerate(centres):
                v = _clip_ci(c.get(key), lo_b, hi_b)
                if c.get("status") != "ok" or not v:
                    ax.text(0.5, i, "too few events", transform=ax.get_yaxis_transform(), ha="center", va="center",
                            fontsize=7, color=GREY, style="italic")
                    continue
                if v.get("ci_low") is not None:
                    ax.plot([v["ci_low"], v["ci_high"]], [i, i], color=colour, lw=1.2)
                ax.plot(v["value"], i, "s", color=colour, ms=4.5)
            p = _clip_ci(pooled_est, lo_b, hi_b)
            y = len(centres)
            if p and p.get("ci_low") is not None:
                xs = [p["ci_low"], p["value"], p["ci_high"], p["value"]]
                ax.fill(xs, [y, y - 0.3, y, y + 0.3], color="black")
            if pi and all(v is not None for v in pi):
                a, b = max(pi[0], lo_b), min(pi[1], hi_b)
                ax.plot([a, b], [y + 1, y + 1], color="black", lw=2.2, solid_capstyle="butt")
            if ref is not None:
                ax.axvline(ref, color=GREY, lw=0.8, ls="--")
            if log:
                ax.set_xscale("log")
                _log_ticks(ax.xaxis)
            else:
                ax.xaxis.set_major_formatter(_ticks(kind))
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(range(n_rows))
        axes[0].set_yticklabels(labels)
        axes[0].tick_params(axis="y", length=0)
        axes[0].set_ylim(n_rows - 0.4, -0.6)
        fig.suptitle(family_name(family), x=0.01, ha="left", fontsize=9, fontweight="bold")
        fig.tight_layout(w_pad=1.0)
        return _save(fig, path)


def odds_ratio_forest(odds_ratios: list[dict[str, Any]], path: Path) -> Path | None:
    """Adjusted odds ratios (interquartile-range or level contrasts) with 95 % CIs, log scale."""
    rows = [r for r in odds_ratios if r.get("odds_ratio") is not None]
    if not rows:
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.62, 0.7 + 0.22 * len(rows)))
        for i, r in enumerate(rows):
            lo, hi = max(r["ci_low"], 0.02), min(r["ci_high"], 50)
            ax.plot([lo, hi], [i, i], color=FAMILY_COLOURS["logistic"], lw=1.2)
            ax.plot(r["odds_ratio"], i, "s", color=FAMILY_COLOURS["logistic"], ms=4.5)
        ax.axvline(1, color=GREY, lw=0.8, ls="--")
        ax.set_xscale("log")
        _log_ticks(ax.xaxis)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{r['variable']}: {r['contrast']}".replace(" (interquartile range)", " (IQR)")
                            for r in rows])
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(len(rows) - 0.4, -0.6)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("Adjusted odds ratio (95 % CI, log scale)")
        return _save(fig, path)


# ---------------------------------------------------------------- SHAP


def shap_importance(shaps: dict[str, dict[str, Any]], path: Path, top: int = 15) -> Path | None:
    """Mean |SHAP| per predictor, one panel per family (units as reported by the explainer)."""
    items = [(f, s) for f, s in shaps.items() if s and s.get("importance")]
    if not items:
        return None
    n = max(min(len(s["importance"]), top) for _, s in items)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(items), figsize=(TEXT_WIDTH, 0.8 + 0.2 * n), squeeze=False)
        for k, (family, s) in enumerate(items):
            ax = axes[0][k]
            rows = s["importance"][:top]
            ax.barh(range(len(rows)), [r["mean_abs_shap"] for r in rows], color=family_colour(family, k), height=0.65)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([r["variable"] for r in rows])
            ax.set_ylim(n - 0.5, -0.6)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="y", visible=False)
            ax.set_title(family_name(family))
            ax.set_xlabel(f"Mean |SHAP| ({s.get('units', 'log-odds')})")
            ax.xaxis.set_major_formatter(_ticks("shap"))
        fig.tight_layout(w_pad=1.5)
        return _save(fig, path)


def _bin_label(label: str) -> str:
    if label.startswith("fifth "):
        return label.replace("fifth ", "Q")
    return {"True": "yes", "False": "no"}.get(label, label.replace("_", " "))


def shap_binned(shap: dict[str, Any], family: str, path: Path, top: int = 12) -> Path | None:
    """Binned beeswarm: for each predictor, the distribution (5th-95th and 25th-75th centiles,
    median) of its SHAP values in each fifth of its value (Q1 lowest) or in each category."""
    binned = shap.get("binned") or {}
    order = [r["variable"] for r in shap.get("importance", []) if r["variable"] in binned][:top]
    if not order:
        return None
    ncol = 3
    nrow = math.ceil(len(order) / ncol)
    colour = family_colour(family)
    lo = min(b["q05"] for v in order for b in binned[v])
    hi = max(b["q95"] for v in order for b in binned[v])
    pad = 0.05 * (hi - lo or 1)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrow, ncol, figsize=(TEXT_WIDTH, 1.75 * nrow), squeeze=False, sharey=True)
        for k, var in enumerate(order):
            ax = axes[k // ncol][k % ncol]
            bins = binned[var]
            for i, b in enumerate(bins):
                ax.plot([i, i], [b["q05"], b["q95"]], color=colour, lw=1)
                ax.add_patch(plt.Rectangle((i - 0.28, b["q25"]), 0.56, max(b["q75"] - b["q25"], 1e-9),
                                           fc=colour, alpha=0.35, ec=colour, lw=0.8))
                ax.plot([i - 0.28, i + 0.28], [b["q50"], b["q50"]], color="black", lw=1.2)
            ax.axhline(0, color=GREY, lw=0.7, ls="--")
            labels = [_bin_label(b["bin"]) for b in bins]
            ax.set_xticks(range(len(bins)))
            ax.set_xticklabels(labels, rotation=30 if max(len(t) for t in labels) > 6 else 0,
                               ha="right" if max(len(t) for t in labels) > 6 else "center", fontsize=7)
            ax.set_xlim(-0.6, len(bins) - 0.4)
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_title(var, fontsize=8)
            ax.grid(axis="x", visible=False)
            ax.yaxis.set_major_formatter(_ticks("shap", digits=1))
            if k % ncol == 0:
                ax.set_ylabel(f"SHAP ({shap.get('units', 'log-odds')})", fontsize=7.5)
        for k in range(len(order), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.tight_layout(h_pad=0.8, w_pad=0.8)
        return _save(fig, path)


_RISK_TICKS = [0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12,
               0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]


def shap_waterfall(example: dict[str, Any], units: str, path: Path, top: int = 12) -> Path | None:
    """Worked example: contributions of each predictor for the constructed reference profile, from the
    base value (average prediction) to the profile's output; a top axis gives the risk scale."""
    contributions = example.get("contributions") or {}
    if not contributions:
        return None
    values = example.get("values") or {}
    items = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
    shown, rest = items[:top], items[top:]
    if rest:
        shown.append((f"{len(rest)} other predictors", float(sum(v for _, v in rest))))
    base = float(example.get("base_value") or 0.0)
    ends = np.cumsum([base] + [v for _, v in shown])
    lo, hi = float(min(ends)), float(max(ends))
    span = max(hi - lo, 0.5)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.85, 1.0 + 0.24 * (len(shown) + 2)))
        labels = ["Average prediction (base value)"]
        ax.plot([base], [0], "o", color=GREY, ms=6)
        ax.text(base + 0.02 * span, 0, fmt.num(base, "shap"), va="center", ha="left", fontsize=7)
        running = base
        for i, (var, v) in enumerate(shown, start=1):
            colour = "#D55E00" if v > 0 else "#0072B2"
            ax.barh(i, v if abs(v) > 1e-12 else 1e-12, left=running, color=colour, height=0.62)
            right = max(running, running + v)
            ax.text(right + 0.015 * span, i, ("+" if v > 0 else "") + fmt.num(v, "shap"), va="center", ha="left",
                    fontsize=7, color="black")
            running += v
            labels.append(f"{var} = {_show(values[var])}" if var in values else var)
        n = len(shown) + 1
        ax.plot([running], [n], "D", color="black", ms=6)
        ax.text(running + 0.02 * span, n, fmt.num(running, "shap"), va="center", ha="left", fontsize=7)
        prob = example.get("probability")
        labels.append("Prediction for this profile" + (f" (risk {fmt.percent(prob)})" if prob is not None
                                                       and units == "log-odds" else ""))
        ax.axvline(base, color=GREY, lw=0.7, ls=":")
        ax.set_yticks(range(n + 1))
        ax.set_yticklabels(labels)
        ax.set_ylim(n + 0.6, -0.6)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(lo - 0.08 * span, hi + 0.18 * span)
        ax.set_xlabel(f"Model output ({units}); red raises, blue lowers the predicted risk")
        ax.xaxis.set_major_formatter(_ticks("shap", digits=1))
        if units == "log-odds":
            top_ax = ax.secondary_xaxis("top", functions=(lambda x: 1 / (1 + np.exp(-x)),
                                                          lambda q: np.log(np.clip(q, 1e-9, 1 - 1e-9) /
                                                                           (1 - np.clip(q, 1e-9, 1 - 1e-9)))))
            a, b = 1 / (1 + math.exp(-(lo - 0.08 * span))), 1 / (1 + math.exp(-(hi + 0.18 * span)))
            ticks = [c for c in _RISK_TICKS if a <= c <= b]
            while len(ticks) > 7:
                ticks = ticks[::2]
            top_ax.set_xticks(ticks)
            top_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt.threshold(v)))
            top_ax.set_xlabel("Predicted risk")
            top_ax.tick_params(labelsize=7.5)
        return _save(fig, path)


def _show(value: Any) -> str:
    if isinstance(value, bool) or value in ("True", "False"):
        return "yes" if value in (True, "True") else "no"
    if isinstance(value, float):
        return fmt.num(value, digits=0 if value.is_integer() else 1)
    return str(value)


# ---------------------------------------------------------------- time to event


def km_by_risk_group(km: list[dict[str, Any]], horizon: float | None, family: str, path: Path) -> Path | None:
    """Kaplan-Meier event-free proportion by group of predicted risk (1 = lowest), with 95 % bands."""
    if not km:
        return None
    groups = sorted({r["group"] for r in km})
    names = {1: "lowest", len(groups): "highest"} if len(groups) > 1 else {}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.75, 3.0))
        for i, g in enumerate(groups):
            rows = sorted((r for r in km if r["group"] == g), key=lambda r: r["time"])
            t = [r["time"] for r in rows]
            colour = RISK_GROUP_COLOURS[i % len(RISK_GROUP_COLOURS)]
            ax.step(t, [r["survival"] for r in rows], where="post", color=colour,
                    label=f"Risk group {g}{' (' + names[g] + ')' if g in names else ''}: n = {fmt.integer(rows[0]['n'])}")
            ax.fill_between(t, [r["lower_ci"] for r in rows], [r["upper_ci"] for r in rows], step="post",
                            color=colour, alpha=0.12, lw=0)
        if horizon:
            ax.axvline(horizon, color=GREY, ls=":", lw=0.9)
            ax.text(horizon, 1.0, f" horizon {fmt.integer(horizon)} days", fontsize=7, color=GREY, va="top")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.set_xlabel("Days after surgery")
        ax.set_ylabel("Progression-free proportion")
        ax.yaxis.set_major_formatter(_pct_ticks())
        ax.set_title(family_name(family))
        ax.legend(loc="lower left", frameon=True, facecolor="white", edgecolor="none", framealpha=1.0)
        return _save(fig, path)


def calibration_at_horizon(families: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Mean predicted risk against Kaplan-Meier observed risk at the horizon, per fifth of risk."""
    items = [(f, r["cross_validation"].get("calibration_at_horizon")) for f, r in families.items()]
    items = [(f, rows) for f, rows in items if rows]
    if not items:
        return None
    upper = _nice_upper(max(max(r["predicted"], r["observed"]) for _, rows in items for r in rows) * 1.05)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.55, TEXT_WIDTH * 0.5))
        ax.plot([0, upper], [0, upper], color=LIGHT, ls="--", lw=1, label="Ideal")
        for i, (family, rows) in enumerate(items):
            ax.plot([r["predicted"] for r in rows], [r["observed"] for r in rows], "o-", color=family_colour(family, i),
                    label=family_name(family), ms=4.5, lw=1.1)
        ax.set_xlim(0, upper)
        ax.set_ylim(0, upper)
        ax.set_aspect("equal")
        ax.set_xlabel("Mean predicted risk at horizon")
        ax.set_ylabel("Observed risk (Kaplan-Meier)")
        ax.xaxis.set_major_formatter(_pct_ticks())
        ax.yaxis.set_major_formatter(_pct_ticks())
        ax.legend(loc="upper left")
        return _save(fig, path)
