"""Figures of the prediction-instability section (Riley & Collins, Biometrical Journal 2023), drawn
from the Evidence's instability aggregates only (no patient's prediction is in the Evidence).

- prediction instability: the 2-D histogram of (original risk, bootstrap model's risk) pairs, small
  cells suppressed, with the 2.5th, 50th and 97.5th percentiles of the bootstrap risks by risk bin;
- MAPE and classification instability by risk bin;
- calibration and decision-curve instability: a sample of the bootstrap models' curves in the
  original patients, their 95 % envelope and the final model's curve.

Same style, widths and colours as :mod:`.figures`; one panel per family shown.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import LinearSegmentedColormap, PowerNorm
from matplotlib.lines import Line2D

from . import numbers as fmt
from .figures import (
    GREY,
    LIGHT,
    STYLE,
    TEXT_WIDTH,
    decision_axes,
    family_colour,
    family_name,
    floats,
    nice_upper,
    number_ticks,
    pct_ticks,
    save,
    subplots,
)

SAMPLE_COLOUR = "#9A9A9A"
THRESHOLD_STYLES = ("-", "--", ":", "-.")


def _panels(n: int, height: float = 3.0) -> tuple[Any, list[Any]]:
    """A row of ``n`` panels (two at most per row) at the report's width."""
    ncol = min(n, 2)
    nrow = math.ceil(n / ncol)
    width = TEXT_WIDTH if ncol == 2 else TEXT_WIDTH * 0.55
    fig, axes = subplots(nrow, ncol, figsize=(width, height * nrow + 0.3), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def prediction_instability(records: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Each bootstrap model's predicted risk against the final model's, as a shaded 2-D histogram
    (cells with fewer than the small-cell number of patients left blank) with the 2.5th, 50th and
    97.5th percentiles of the bootstrap risks in each bin of the original risk."""
    items = [(f, r) for f, r in records.items() if r.get("histogram") or r.get("bins")]
    if not items:
        return None
    with rc_context(STYLE):
        fig, axes = _panels(len(items), height=3.1)
        for k, ((family, rec), ax) in enumerate(zip(items, axes, strict=True)):
            colour = family_colour(family, k)
            edges, share = _histogram(rec.get("histogram") or {})
            bins = rec.get("bins") or []
            top = floats([b.get("boot_q975") for b in bins])
            upper = (
                float(edges[-1]) if edges.size else nice_upper(float(np.nanmax(top)) if np.isfinite(top).any() else 1.0)
            )
            shown = np.where(share > 0, share, np.nan)
            if np.isfinite(shown).any():
                ax.pcolormesh(
                    edges,
                    edges,
                    shown.T,
                    cmap=LinearSegmentedColormap.from_list("instability", ["#FFFFFF", colour]),
                    norm=PowerNorm(0.5, vmin=0, vmax=float(np.nanquantile(shown, 0.98))),
                    shading="flat",
                )
            ax.plot([0, upper], [0, upper], color=GREY, lw=0.8, ls="--")
            x = floats([b.get("mean_risk") for b in bins])
            for key, style in (("boot_q025", ":"), ("boot_q50", "-"), ("boot_q975", ":")):
                ax.plot(x, floats([b.get(key) for b in bins]), color="black", lw=1.1, ls=style)
            ax.set_xlim(0, upper)
            ax.set_ylim(0, upper)
            ax.set_aspect("equal")
            ax.set_title(family_name(family))
            ax.set_xlabel("Risk from the final model")
            ax.set_ylabel(f"Risk from {fmt.integer(rec.get('replicates_used'))} bootstrap models")
            ax.xaxis.set_major_formatter(pct_ticks())
            ax.yaxis.set_major_formatter(pct_ticks())
        fig.tight_layout(w_pad=2.0, rect=(0, 0.08, 1, 1))
        fig.legend(
            [
                Line2D([], [], color="black", lw=1.1),
                Line2D([], [], color="black", lw=1.1, ls=":"),
                Line2D([], [], color=GREY, lw=0.8, ls="--"),
            ],
            ["Median of the bootstrap risks (by risk bin)", "2.5th and 97.5th percentiles", "No change"],
            loc="lower center",
            ncol=3,
            bbox_to_anchor=(0.5, 0.0),
        )
        return save(fig, path)


def _histogram(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The histogram's edges and shares (suppressed or not estimable cells NaN); empty when its edges
    are not usable."""
    edges = floats(record.get("edges"))
    rows = record.get("share") or []
    share = np.array([[v if fmt.finite(v) else np.nan for v in row] for row in rows], dtype=float)
    m = edges.size - 1
    if m < 1 or not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0) or share.shape != (m, m):
        return np.zeros(0), np.zeros((0, 0))
    return edges, share


def mape_by_risk(records: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Mean absolute prediction error by bin of the original risk (all families shown in one panel)
    and, per family, the mean classification instability index by risk bin at each threshold."""
    items = [(f, r) for f, r in records.items() if r.get("bins")]
    if not items:
        return None
    with rc_context(STYLE):
        n = 1 + len(items)
        fig, axes = subplots(1, n, figsize=(TEXT_WIDTH, 2.6), squeeze=False)
        axes = list(axes.flat)
        top = [
            float(np.nanmax(x))
            for _, r in items
            if np.isfinite(x := floats([b.get("mean_risk") for b in r["bins"]])).any()
        ]
        upper = nice_upper(max([*top, 0.05]) * 1.1)
        for k, (family, rec) in enumerate(items):
            bins = rec["bins"]
            x = floats([b.get("mean_risk") for b in bins])
            axes[0].plot(
                x,
                floats([b.get("mape") for b in bins]),
                color=family_colour(family, k),
                marker="o",
                ms=3,
                label=family_name(family),
            )
            ax = axes[k + 1]
            thresholds = [c["threshold"] for c in rec.get("classification") or [] if fmt.finite(c.get("threshold"))]
            for j, t in enumerate(thresholds):
                key = f"{t:g}"
                ax.plot(
                    x,
                    floats([(b.get("cii") or {}).get(key) for b in bins]),
                    color=family_colour(family, k),
                    ls=THRESHOLD_STYLES[j % len(THRESHOLD_STYLES)],
                    label=f"threshold {fmt.threshold(t)}",
                )
                ax.axvline(t, color=LIGHT, lw=0.8, ls=":")
            ax.set_ylim(0, 0.6)
            ax.set_title(f"CII: {family_name(family)}")
            ax.set_ylabel("Classification instability")
            ax.yaxis.set_major_formatter(number_ticks(digits=1))
            if thresholds:
                ax.legend(loc="upper right", fontsize=6.5)
        axes[0].set_title("MAPE")
        axes[0].set_ylabel("Mean absolute prediction error")
        axes[0].yaxis.set_major_formatter(number_ticks(digits=3))
        axes[0].set_ylim(bottom=0)
        axes[0].legend(loc="best", fontsize=6.5)
        for ax in axes:
            ax.set_xlim(0, upper)
            ax.set_xlabel("Risk from the final model")
            ax.xaxis.set_major_formatter(pct_ticks())
        fig.tight_layout(w_pad=1.2)
        return save(fig, path)


def _curve_panel(ax: Any, curve: dict[str, Any], colour: str, x_max: float) -> None:
    """The bootstrap models' sample of curves (grey), their 95 % envelope (dashed) and the final model's."""
    x = floats(curve.get("x"))
    keep = np.isfinite(x) & (x <= x_max + 1e-9)
    for row in curve.get("sample") or []:
        y = floats(row)
        if y.size == x.size:
            ax.plot(x[keep], y[keep], color=SAMPLE_COLOUR, lw=0.5, alpha=0.45)
    for key in ("low", "high"):
        y = floats(curve.get(key))
        if y.size == x.size:
            ax.plot(x[keep], y[keep], color=colour, lw=1.0, ls="--")
    y = floats(curve.get("original"))
    if y.size == x.size:
        ax.plot(x[keep], y[keep], color=colour, lw=1.8)


def _legend(fig: Any, colour_label: str, extra: tuple[tuple[Any, str], ...] = ()) -> None:
    """The curve figures' shared legend below the panels."""
    handles = [
        (Line2D([], [], color="black", lw=1.8), colour_label),
        (Line2D([], [], color=SAMPLE_COLOUR, lw=0.8), "Bootstrap models (a sample)"),
        (Line2D([], [], color="black", lw=1.0, ls="--"), "95 % range of all bootstrap models"),
        *extra,
    ]
    fig.legend(
        [h for h, _ in handles],
        [label for _, label in handles],
        loc="lower center",
        ncol=len(handles),
        bbox_to_anchor=(0.5, 0.0),
    )


def calibration_instability(records: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Each bootstrap model's loess calibration curve in the original patients, with the final model's;
    the risk axis spans the curves' grid, the observed axis also the final curve and the envelope."""
    items = [(f, r["calibration"]) for f, r in records.items() if r.get("calibration")]
    if not items:
        return None
    with rc_context(STYLE):
        fig, axes = _panels(len(items))
        for k, ((family, curve), ax) in enumerate(zip(items, axes, strict=True)):
            x = floats(curve.get("x"))
            upper = nice_upper(float(np.nanmax(x)) if np.isfinite(x).any() else 1.0)
            reached = floats([*(curve.get("original") or []), *(curve.get("high") or [])])
            top = max(upper, nice_upper(float(np.nanmax(reached))) if np.isfinite(reached).any() else upper)
            ax.plot([0, upper], [0, upper], color=LIGHT, ls="--", lw=1)
            _curve_panel(ax, curve, family_colour(family, k), upper)
            ax.set_xlim(0, upper)
            ax.set_ylim(0, top)
            ax.set_title(family_name(family))
            ax.set_xlabel("Predicted risk")
            ax.set_ylabel("Observed proportion")
            ax.xaxis.set_major_formatter(pct_ticks())
            ax.yaxis.set_major_formatter(pct_ticks())
        fig.tight_layout(w_pad=2.0, rect=(0, 0.08, 1, 1))
        _legend(fig, "Final model", ((Line2D([], [], color=LIGHT, ls="--", lw=1), "Perfect calibration"),))
        return save(fig, path)


def decision_instability(
    records: dict[str, dict[str, Any]], thresholds: list[float], prevalence: float | None, path: Path
) -> Path | None:
    """Each bootstrap model's net benefit in the original patients, with the final model's, treat all
    (from the prevalence) and treat none, over the clinically relevant range of thresholds."""
    items = [(f, r["decision"]) for f, r in records.items() if r.get("decision")]
    if not items:
        return None
    prev = prevalence if fmt.finite(prevalence) else 0.1
    x_max = nice_upper(max([*(t for t in thresholds if fmt.finite(t)), prev * 2, 0.1]) * 1.6)
    with rc_context(STYLE):
        fig, axes = _panels(len(items), height=2.7)
        for k, ((family, curve), ax) in enumerate(zip(items, axes, strict=True)):
            x = floats(curve.get("x"))
            keep = np.isfinite(x) & (x <= x_max)
            ax.axhline(0, color="black", lw=0.8)
            ax.plot(x[keep], prev - (1 - prev) * x[keep] / (1 - x[keep]), color=GREY, lw=1.0, ls="-.")
            _curve_panel(ax, curve, family_colour(family, k), x_max)
            decision_axes(ax, thresholds, prev, x_max, short=True)
            ax.set_title(family_name(family))
        fig.tight_layout(w_pad=2.0, rect=(0, 0.1, 1, 1))
        _legend(fig, "Final model", ((Line2D([], [], color=GREY, lw=1.0, ls="-."), "Treat all"),))
        return save(fig, path)
