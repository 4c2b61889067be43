"""The report's figures, drawn with matplotlib from Evidence aggregates only.

Every figure is drawn at the width it has on the page (``TEXT_WIDTH`` inches, A4 with 2 cm margins)
so its 8-9 pt labels stay 8-9 pt in the PDF. Figures are SVG with text kept as text (the PDF is
searchable); the report embeds the same DejaVu Sans font that matplotlib ships. Colours are the
Okabe-Ito palette (colour-blind safe), one fixed colour per model family across all figures.
Tick labels use the report's number format (``numbers.py``): a true minus sign, fixed decimals.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from spineoutcome.modeling.families import colour as registry_colour
from spineoutcome.modeling.families import display_name, is_reference

from . import numbers as fmt

TEXT_WIDTH = 6.69  # inches: 17 cm
GREY = "#555555"
LIGHT = "#BBBBBB"
RISK_GROUP_COLOURS = ["#0072B2", "#E69F00", "#D55E00", "#CC79A7", "#009E73"]

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "figure.dpi": 100,
    "axes.unicode_minus": True,
}


def family_name(family: str) -> str:
    """The family's display name (model-family registry)."""
    return display_name(family)


def family_colour(family: str, i: int = 0) -> str:
    """The family's colour in every figure (model-family registry)."""
    return registry_colour(family, i)


def subplots(*args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """A figure and its axes without pyplot: no global backend, no figure registry to leak into
    (the SVG canvas is attached when the figure is saved)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def number_ticks(kind: str = "default", digits: int | None = None) -> FuncFormatter:
    """Axis tick labels formatted as the report formats numbers of ``kind``."""
    return FuncFormatter(lambda v, _pos: fmt.num(v, kind, digits=digits))


def pct_ticks() -> FuncFormatter:
    """Axis tick labels of a risk as whole percentages."""
    return FuncFormatter(lambda v, _pos: f"{fmt.num(100 * v, digits=0)} %")


def _log_ticks(axis: Any) -> None:
    """Readable ticks on a log-scaled ratio axis (O:E, odds ratios): 0.25, 0.5, 1, 2, 4, ...; sparser
    (0.1, 0.3, 1, 3, 10) when the axis spans more than 1.3 decades, so the labels do not collide."""
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.axes.autoscale_view(scaley=False)
    low, high = sorted(axis.get_view_interval())
    wide = low > 0 and math.log10(high / low) > 1.3
    axis.set_major_locator(
        FixedLocator(
            [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0] if wide else [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 25.0, 50.0]
        )
    )
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _p: fmt.num(v, digits=2 if v < 0.5 else (1 if v < 1 else 0))))


def save(fig: Any, path: Path) -> Path:
    """The figure as SVG with text kept as text and no date, so that a re-render is byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", pad_inches=0.04, metadata={"Date": None})
    return path


def decision_axes(ax: Any, thresholds: Sequence[Any], prevalence: float, x_max: float, *, short: bool = False) -> None:
    """The decision-curve axes of the report: the thresholds as dotted lines, net benefit from a little
    below zero to just above the prevalence (treat all at threshold 0), risks as percentages; ``short``
    axis labels for small panels."""
    for th in thresholds:
        if fmt.finite(th):
            ax.axvline(th, color=LIGHT, lw=0.8, ls=":")
    top = max(prevalence * 1.15, 0.01)
    ax.set_ylim(-top * 0.35, top)
    ax.set_xlim(0, x_max)
    ax.set_xlabel("Threshold probability" + ("" if short else " (risk above which the decision would change)"))
    ax.set_ylabel("Net benefit" + ("" if short else " (true positives per patient)"))
    ax.xaxis.set_major_formatter(pct_ticks())
    ax.yaxis.set_major_formatter(number_ticks("nb"))


def nice_upper(x: float) -> float:
    """A round axis limit just above x (0.05 steps below 0.3, 0.1 steps above)."""
    step = 0.05 if x < 0.3 else 0.1
    return min(1.0, math.ceil(x / step + 1e-9) * step)


def floats(values: Sequence[Any] | None) -> np.ndarray:
    """Evidence numbers as floats: a statistic that was not estimable (None) becomes NaN and is not drawn."""
    return np.asarray([v if fmt.finite(v) else np.nan for v in (values or [])], dtype=float)


def _value(record: dict[str, Any] | None, key: str = "value") -> float | None:
    """A finite number from an Evidence record, or None."""
    v = (record or {}).get(key)
    return float(v) if fmt.finite(v) else None


def _not_estimable(ax: Any, text: str = fmt.NOT_ESTIMABLE) -> None:
    """Say so in the middle of a panel that has nothing to draw."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8, color=GREY, style="italic")


def _row_note(ax: Any, y: float, text: str, x: float = 0.5, ha: str = "center", size: float = 7) -> None:
    """Grey italic text on row ``y`` of a forest panel (x in axes coordinates)."""
    ax.text(
        x, y, text, transform=ax.get_yaxis_transform(), ha=ha, va="center", fontsize=size, color=GREY, style="italic"
    )


# ---------------------------------------------------------------- discrimination


def roc_curves(families: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Cross-validated ROC curves of every family, with the prespecified thresholds marked.

    A family whose curve was not estimable is named in the legend as such."""
    curves = {f: r["cross_validation"].get("roc") for f, r in families.items()}
    if not any(curves.values()):
        return None
    with rc_context(STYLE):
        fig, ax = subplots(figsize=(TEXT_WIDTH * 0.62, TEXT_WIDTH * 0.56))
        ax.plot([0, 1], [0, 1], color=LIGHT, lw=1, ls="--", label="No discrimination")
        markers = ["o", "s", "^", "D", "v"]
        for i, (family, roc) in enumerate(curves.items()):
            if not roc:
                continue
            cv = families[family]["cross_validation"]
            auc = (cv.get("discrimination") or {}).get("auc")
            colour = family_colour(family, i)
            x, y = floats(roc.get("false_positive_rate")), floats(roc.get("true_positive_rate"))
            ok = np.isfinite(x) & np.isfinite(y) if x.size == y.size else np.zeros(0, dtype=bool)
            label = f"{family_name(family)}: AUC {fmt.est(auc, 'auc')}"
            ax.plot(x[ok], y[ok], color=colour, label=label if ok.any() else f"{label} (curve {fmt.NOT_ESTIMABLE})")
            for j, row in enumerate((cv.get("classification") or {}).get("rows") or []):
                sens, spec = _value(row.get("sensitivity")), _value(row.get("specificity"))
                if sens is None or spec is None:
                    continue
                ax.plot(
                    1 - spec,
                    sens,
                    marker=markers[j % len(markers)],
                    ms=5,
                    color=colour,
                    mec="white",
                    mew=0.6,
                    ls="none",
                )
        rows = next(
            ((r["cross_validation"].get("classification") or {}).get("rows") or [] for r in families.values()), []
        )
        for j, row in enumerate(rows):
            ax.plot(
                [],
                [],
                marker=markers[j % len(markers)],
                color=GREY,
                ls="none",
                ms=5,
                label=f"threshold {fmt.threshold(row.get('threshold'))}",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("1 − specificity (false-positive rate)")
        ax.set_ylabel("Sensitivity (true-positive rate)")
        ax.xaxis.set_major_formatter(number_ticks(digits=1))
        ax.yaxis.set_major_formatter(number_ticks(digits=1))
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
        return save(fig, path)


# ---------------------------------------------------------------- calibration


SPIKE_HEIGHT = 0.2
"""Height of the spike-histogram strip below a calibration panel, as a share of its risk axis."""


def _risk_axis_upper(cv: dict[str, Any]) -> float:
    """A calibration panel's risk axis: up to about the 99th centile of its predictions (the sparse top
    1 % would squash the rest), else up to the largest point of its curve."""
    q99 = _value(cv.get("prediction_distribution"), "q99")
    if q99 is not None:
        return nice_upper(max(q99 * 1.1, 0.02))
    x = floats(cv["calibration_curve"].get("predicted"))
    return nice_upper(float(np.nanmax(x))) if np.isfinite(x).any() else 1.0


def _spike_histogram(ax: Any, dist: dict[str, Any] | None, upper: float, colour: str) -> None:
    """Predicted risks of patients with the outcome (up) and without (down) in a strip below the calibration
    curve. Bins have unequal widths (small cells were merged), so bar heights are densities (count per unit
    of risk), each group scaled to its own maximum. A single bin (too few patients to split without a
    cell under 5) carries no shape and is not drawn."""
    edges = floats((dist or {}).get("edges"))
    counts = {"up": floats((dist or {}).get("events")), "down": floats((dist or {}).get("non_events"))}
    base = -SPIKE_HEIGHT * upper / 2
    widths = np.diff(edges) if edges.size > 1 else np.zeros(0)
    usable = (
        widths.size > 1
        and all(c.size == widths.size for c in counts.values())
        and np.isfinite(edges).all()
        and (widths > 0).all()
    )
    if not usable:
        ax.text(
            upper / 2,
            base,
            f"risk histogram {fmt.NOT_ESTIMABLE} (cells < 5)",
            ha="center",
            va="center",
            fontsize=6.5,
            color=GREY,
            style="italic",
        )
        return
    ax.axhline(base, color=GREY, lw=0.5)
    for side, fill, label in (
        ("up", colour, "Predicted risks: with the outcome (up)"),
        ("down", LIGHT, "without (down)"),
    ):
        density = np.nan_to_num(counts[side]) / widths
        scale = SPIKE_HEIGHT * upper / 2 * 0.95 / (density.max() or 1.0)
        ax.bar(
            edges[:-1],
            density * scale * (1 if side == "up" else -1),
            width=widths,
            bottom=base,
            align="edge",
            color=fill,
            lw=0,
            label=label,
        )


def calibration_curves(families: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Flexible (loess) calibration curve with its bootstrap band, one panel per family, and the spike
    histogram of predicted risks under it; a curve that was not estimable is said to be so."""
    items = [(f, r["cross_validation"]) for f, r in families.items() if r["cross_validation"].get("calibration_curve")]
    if not items:
        return None
    ncol = 2 if len(items) > 1 else 1
    nrow = math.ceil(len(items) / ncol)
    width = TEXT_WIDTH if ncol == 2 else TEXT_WIDTH * 0.55
    with rc_context(STYLE):
        fig, axes = subplots(nrow, ncol, figsize=(width, 3.2 * nrow + 0.4), squeeze=False)
        for k, (family, cv) in enumerate(items):
            ax = axes[k // ncol][k % ncol]
            curve, cal = cv["calibration_curve"], cv.get("calibration") or {}
            colour = family_colour(family, k)
            upper = _risk_axis_upper(cv)
            ax.plot([0, upper], [0, upper], color=LIGHT, ls="--", lw=1)
            _calibration_curve(ax, curve, colour)
            _spike_histogram(ax, cv.get("prediction_distribution"), upper, colour)
            ax.set_xlim(0, upper)
            ax.set_ylim(-SPIKE_HEIGHT * upper, upper)
            ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= upper + 1e-9])
            ax.set_title(family_name(family))
            ax.set_xlabel("Predicted risk")
            ax.set_ylabel("Observed proportion")
            ax.xaxis.set_major_formatter(pct_ticks())
            ax.yaxis.set_major_formatter(pct_ticks())
            text = "\n".join(
                [
                    f"CITL {fmt.point(cal.get('citl'), 'citl')}",
                    f"Slope {fmt.point(cal.get('slope'), 'slope')}",
                    f"O:E {fmt.point(cal.get('oe_ratio'), 'oe')}",
                    f"ICI {fmt.point(curve.get('ici'), 'ici')}",
                    f"E50 {fmt.point(curve.get('e50'), 'e50')}",
                    f"E90 {fmt.point(curve.get('e90'), 'e90')}",
                ]
            )
            ax.text(
                0.03,
                0.97,
                text,
                transform=ax.transAxes,
                va="top",
                ha="left",
                fontsize=7.5,
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": LIGHT, "lw": 0.6},
            )
        for k in range(len(items), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.tight_layout(w_pad=2.0, h_pad=1.2, rect=(0, 0.07, 1, 1))
        handles: dict[str, Any] = {}
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        handles["Perfect calibration"] = Line2D([], [], color=LIGHT, ls="--", lw=1)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0))
        return save(fig, path)


def _calibration_curve(ax: Any, curve: dict[str, Any], colour: str) -> None:
    """The loess curve and its band where estimable, clipped to proportions in [0, 1]; "not estimable"
    where no point is."""
    x, y = floats(curve.get("predicted")), floats(curve.get("observed"))
    lo, hi = floats(curve.get("observed_ci_low")), floats(curve.get("observed_ci_high"))
    if x.size != y.size or not (np.isfinite(x) & np.isfinite(y)).any():
        _not_estimable(ax, f"calibration curve {fmt.NOT_ESTIMABLE}")
        return
    if lo.size == hi.size == x.size:
        band = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(
            x[band],
            np.clip(lo[band], 0, 1),
            np.clip(hi[band], 0, 1),
            color=colour,
            alpha=0.18,
            lw=0,
            label="95 % bootstrap band",
        )
    ok = np.isfinite(x)
    ax.plot(x[ok], np.clip(y[ok], 0, 1), color=colour, label="Loess calibration curve")


# ---------------------------------------------------------------- clinical utility


def decision_curves(
    families: dict[str, dict[str, Any]], thresholds: Sequence[float], best: str, path: Path
) -> Path | None:
    """Net benefit of every family against treat-all and treat-none over a clinical range.

    Points of a curve that were not estimable are left out (the curve has a gap)."""
    curves = {f: r["cross_validation"].get("decision_curve") for f, r in families.items()}
    curves = {f: c for f, c in curves.items() if c}
    if not curves:
        return None
    any_curve = next(iter(curves.values()))
    t = floats(any_curve.get("thresholds"))
    nb_all = floats(any_curve.get("nb_all"))
    prevalence = _value(any_curve, "prevalence")
    if prevalence is None:
        prevalence = float(np.nanmax(nb_all)) if np.isfinite(nb_all).any() else 0.1
    x_max = nice_upper(max([*(v for v in thresholds if fmt.finite(v)), prevalence * 2, 0.1]) * 1.6)
    keep = np.isfinite(t) & (t <= x_max)
    with rc_context(STYLE):
        fig, ax = subplots(figsize=(TEXT_WIDTH, 3.2))
        ax.axhline(0, color="black", lw=1, label="Treat none")
        if nb_all.size == t.size:
            ax.plot(t[keep], nb_all[keep], color=GREY, lw=1.2, ls="--", label="Treat all")
        for i, (family, c) in enumerate(curves.items()):
            colour = family_colour(family, i)
            name = family_name(family) + (" (selected)" if family == best else "")
            nb = floats(c.get("nb_model"))
            if nb.size != t.size or not np.isfinite(nb[keep]).any():
                ax.plot([], [], color=colour, label=f"{name}: {fmt.NOT_ESTIMABLE}")
                continue
            ax.plot(t[keep], nb[keep], color=colour, label=name)
            ci = (c.get("ci") or {}).get("nb_model") or []
            if family == best and len(ci) == 2:
                lo, hi = floats(ci[0]), floats(ci[1])
                if lo.size == hi.size == t.size:
                    ax.fill_between(
                        t[keep],
                        lo[keep],
                        hi[keep],
                        color=colour,
                        alpha=0.15,
                        lw=0,
                        label=f"{family_name(family)}: 95 % CI",
                    )
        decision_axes(ax, thresholds, prevalence, x_max)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return save(fig, path)


# ---------------------------------------------------------------- forest plots


def _forest_point(ax: Any, v: dict[str, Any], y: float, colour: str, marker: str, ms: float) -> None:
    """One estimate with its interval; an estimate beyond the panel is an arrowhead at the edge."""
    if v.get("ci_low") is not None and v.get("ci_high") is not None:
        ax.plot([v["ci_low"], v["ci_high"]], [y, y], color=colour, lw=1.2)
    off = v.get("off", 0)
    ax.plot(v["value"], y, marker={-1: "<", 1: ">"}.get(off, marker), color=colour, ms=ms, ls="none")


def _forest_panel(
    ax: Any,
    rows: list[dict[str, Any]],
    key: str,
    *,
    log: bool = False,
    ref: float | None = None,
    colours: dict[str, str],
    offsets: dict[str, float],
    kind: str,
    title: str,
    xlabel: str,
    bounds: tuple[float, float],
) -> None:
    """One measure of a subgroup forest plot; "n.e." (not estimable) where an adequate group has no estimate."""
    drawn = False
    for row in rows:
        for family, values in row["values"].items():
            v = values.get(key)
            y = row["y"] + offsets[family]
            if not v:
                if row["status"] == "ok":
                    _row_note(ax, y, NOT_ESTIMABLE_SHORT, x=0.98, ha="right", size=6)
                continue
            marker = "D" if row.get("marker") == "D" else ("o" if is_reference(family) else "s")
            _forest_point(ax, v, y, colours[family], marker, 6 if marker == "D" else 4.5)
            drawn = True
    if not drawn:
        ax.set_xlim(*bounds)
    if ref is not None:
        ax.axvline(ref, color=GREY, lw=0.8, ls="--")
    if log:
        ax.set_xscale("log")
        _log_ticks(ax.xaxis)
    else:
        ax.xaxis.set_major_formatter(number_ticks(kind))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)


def _clip_ci(values: dict[str, Any] | None, lo: float, hi: float) -> dict[str, Any] | None:
    """An estimate clipped to the panel, so one absurd value cannot squash every other row.

    None when there is no estimate; a value beyond the panel sits on its edge with ``off`` = -1 or 1
    (drawn as an arrowhead). A missing or inverted interval bound is dropped."""
    value = _value(values)
    if value is None:
        return None
    low, high = _value(values, "ci_low"), _value(values, "ci_high")
    if low is None or high is None:
        low = high = None

    def clip(x: float | None) -> float | None:
        return None if x is None else min(max(x, lo), hi)

    off = -1 if value < lo else (1 if value > hi else 0)
    return {"value": clip(value), "ci_low": clip(low), "ci_high": clip(high), "off": off}


NOT_ESTIMABLE_SHORT = "n.e."
"""Where a forest plot row has no room for "not estimable" (the captions say what "n.e." means)."""


def status_text(status: str | None) -> str:
    """How a subgroup or centre status other than "ok" is written in a figure."""
    return "too few events" if status == "too_few_events" else fmt.NOT_ESTIMABLE


def _subgroup_entries(subgroups: dict[str, list[dict[str, Any]]], families: list[str]) -> list[dict[str, Any]]:
    """One entry per (grouping, group) with n, events, status and each family's estimates.

    "too_few_events" applies to the whole group; a metric that was "undefined" has no estimate and is
    marked in its panel."""
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for family in families:
        for r in subgroups[family]:
            entry = index.setdefault(
                (r["grouping"], r["group"]),
                {
                    "grouping": r["grouping"],
                    "group": r["group"],
                    "n": r.get("n"),
                    "n_events": r.get("n_events"),
                    "status": "ok",
                    "values": {},
                },
            )
            if r["metric"] in ("auc", "oe_ratio", "slope"):
                entry["values"].setdefault(family, {})[r["metric"]] = {
                    "value": r.get("estimate"),
                    "ci_low": r.get("ci_low"),
                    "ci_high": r.get("ci_high"),
                }
            if r.get("status") == "too_few_events":
                entry["status"] = "too_few_events"
    return list(index.values())


SUBGROUP_BOUNDS = {"auc": (0.3, 1.0), "oe_ratio": (0.2, 5.0), "slope": (-1.0, 3.0)}
"""Panel ranges of the subgroup forest plot: estimates and bounds beyond them are clipped (arrowheads)."""


def subgroup_forest(
    subgroups: dict[str, list[dict[str, Any]]], path: Path, names: Callable[[str], str] = lambda s: s.replace("_", " ")
) -> Path | None:
    """AUC, O:E ratio and calibration slope per subgroup, for the families given (tidy Evidence rows).

    Subgroups with too few events are listed with that status and no estimate; an estimate that
    could not be computed is marked "not estimable".
    """
    families = [f for f, rows in subgroups.items() if rows]
    if not families:
        return None
    rows = _subgroup_entries(subgroups, families)
    labels, y = [], 0.0
    plotted: list[dict[str, Any]] = []
    previous = None
    for entry in rows:
        if entry["grouping"] != previous and entry["grouping"] != "overall":
            y += 0.4
            labels.append((y, names(entry["grouping"]), True))
            y += 1
        previous = entry["grouping"]
        name = "All patients" if entry["grouping"] == "overall" else f"   {entry['group']}"
        labels.append((y, f"{name}  ({fmt.integer(entry['n'])}; {fmt.integer(entry['n_events'])} events)", False))
        for fam in families:
            vals = entry["values"].get(fam, {})
            entry["values"][fam] = {k: _clip_ci(vals.get(k), *b) for k, b in SUBGROUP_BOUNDS.items()}
        plotted.append(
            {
                "y": y,
                "values": entry["values"],
                "status": entry["status"],
                "marker": "D" if entry["grouping"] == "overall" else "s",
            }
        )
        y += 1
    colours = {f: family_colour(f, i) for i, f in enumerate(families)}
    offsets = {f: (i - (len(families) - 1) / 2) * 0.28 for i, f in enumerate(families)}
    height = 0.9 + 0.19 * y
    with rc_context(STYLE):
        fig, axes = subplots(1, 3, figsize=(TEXT_WIDTH, height), sharey=True, gridspec_kw={"width_ratios": [1, 1, 1]})
        overall = next((e for e in rows if e["grouping"] == "overall"), None)
        first = (overall or {}).get("values", {}).get(families[0], {}).get("auc")
        ref_auc = first["value"] if first and not first["off"] else None
        _forest_panel(
            axes[0],
            plotted,
            "auc",
            ref=ref_auc,
            colours=colours,
            offsets=offsets,
            kind="auc",
            title="AUC",
            xlabel="AUC",
            bounds=SUBGROUP_BOUNDS["auc"],
        )
        _forest_panel(
            axes[1],
            plotted,
            "oe_ratio",
            log=True,
            ref=1.0,
            colours=colours,
            offsets=offsets,
            kind="oe",
            title="O:E ratio",
            xlabel="O:E ratio (log scale)",
            bounds=SUBGROUP_BOUNDS["oe_ratio"],
        )
        _forest_panel(
            axes[2],
            plotted,
            "slope",
            ref=1.0,
            colours=colours,
            offsets=offsets,
            kind="slope",
            title="Calibration slope",
            xlabel="Slope",
            bounds=SUBGROUP_BOUNDS["slope"],
        )
        for row in plotted:
            if row["status"] != "ok":
                _row_note(axes[1], row["y"], status_text(row["status"]))
        axes[0].set_yticks([p for p, _, _ in labels])
        axes[0].set_yticklabels([t for _, t, _ in labels])
        for tick, (_, _, head) in zip(axes[0].get_yticklabels(), labels, strict=True):
            if head:
                tick.set_fontweight("bold")
        axes[0].tick_params(axis="y", length=0)
        axes[0].set_ylim(y, -0.6)
        for f in families:
            axes[2].plot([], [], marker="o" if is_reference(f) else "s", color=colours[f], label=family_name(f), lw=1.2)
        fig.legend(
            *axes[2].get_legend_handles_labels(),
            loc="lower center",
            ncol=len(families),
            bbox_to_anchor=(0.6, -0.02 - 0.25 / height),
        )
        fig.tight_layout(w_pad=1.0)
        return save(fig, path)


def centre_forest(heterogeneity: dict[str, Any], family: str, path: Path) -> Path | None:
    """Internal-external validation: per-centre AUC, O:E and slope, the random-effects pooled
    estimate (diamond) and the 95 % prediction interval for a new centre (bar). A centre or a pooled
    estimate that could not be estimated is marked so."""
    centres = heterogeneity.get("centres") or []
    if not centres:
        return None
    pooled = heterogeneity.get("pooled") or {}
    panels = [
        (
            "auc",
            "AUC",
            "AUC",
            heterogeneity.get("pooled_auc"),
            heterogeneity.get("pooled_auc_prediction_interval"),
            False,
            None,
            "auc",
        ),
        (
            "oe_ratio",
            "O:E ratio",
            "O:E ratio (log scale)",
            heterogeneity.get("pooled_oe_ratio"),
            heterogeneity.get("pooled_oe_prediction_interval"),
            True,
            1.0,
            "oe",
        ),
        (
            "slope",
            "Calibration slope",
            "Slope",
            (pooled.get("slope") or {}).get("estimate"),
            (pooled.get("slope") or {}).get("prediction_interval"),
            False,
            1.0,
            "slope",
        ),
    ]
    n_rows = len(centres) + 2
    colour = family_colour(family)
    with rc_context(STYLE):
        fig, axes = subplots(1, 3, figsize=(TEXT_WIDTH, 0.9 + 0.24 * n_rows), sharey=True)
        labels = [
            f"{c.get('centre')}  ({fmt.integer(c.get('n'))}; {fmt.integer(c.get('n_events'))} events)" for c in centres
        ]
        labels += ["Pooled (random effects)", "95 % prediction interval"]
        bounds = {"auc": (0.2, 1.0), "oe_ratio": (0.1, 10.0), "slope": (-1.5, 3.5)}
        for ax, (key, title, xlabel, pooled_est, pi, log, ref, kind) in zip(axes, panels, strict=True):
            lo_b, hi_b = bounds[key]
            for i, c in enumerate(centres):
                v = _clip_ci(c.get(key), lo_b, hi_b)
                if c.get("status") != "ok" or not v:
                    _row_note(ax, i, status_text(c.get("status")))
                    continue
                _forest_point(ax, v, i, colour, "s", 4.5)
            _pooled_diamond(ax, _clip_ci(pooled_est, lo_b, hi_b), len(centres))
            _prediction_bar(ax, pi, len(centres) + 1, lo_b, hi_b)
            if not ax.lines and not ax.patches:
                ax.set_xlim(lo_b, hi_b)
            if ref is not None:
                ax.axvline(ref, color=GREY, lw=0.8, ls="--")
            if log:
                ax.set_xscale("log")
                _log_ticks(ax.xaxis)
            else:
                ax.xaxis.set_major_formatter(number_ticks(kind))
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(range(n_rows))
        axes[0].set_yticklabels(labels)
        axes[0].tick_params(axis="y", length=0)
        axes[0].set_ylim(n_rows - 0.4, -0.6)
        fig.suptitle(family_name(family), x=0.01, ha="left", fontsize=9, fontweight="bold")
        fig.tight_layout(w_pad=1.0)
        return save(fig, path)


def _pooled_diamond(ax: Any, p: dict[str, Any] | None, y: float) -> None:
    """The pooled estimate as a diamond spanning its CI; a point when the CI is missing."""
    if not p:
        _row_note(ax, y, fmt.NOT_ESTIMABLE)
    elif p["ci_low"] is None:
        ax.plot(p["value"], y, "D", color="black", ms=5)
    else:
        ax.fill([p["ci_low"], p["value"], p["ci_high"], p["value"]], [y, y - 0.3, y, y + 0.3], color="black")


def _prediction_bar(ax: Any, pi: Sequence[Any] | None, y: float, lo: float, hi: float) -> None:
    """The 95 % prediction interval for a new centre, clipped to the panel (arrowheads at clipped ends)."""
    if not (pi and len(pi) == 2 and all(fmt.finite(v) for v in pi)):
        _row_note(ax, y, fmt.NOT_ESTIMABLE)
        return
    a, b = min(max(pi[0], lo), hi), min(max(pi[1], lo), hi)
    ax.plot([a, b], [y, y], color="black", lw=2.2, solid_capstyle="butt")
    for end, clipped, marker in ((a, pi[0] < lo, "<"), (b, pi[1] > hi, ">")):
        if clipped:
            ax.plot(end, y, marker=marker, color="black", ms=5)


OR_BOUNDS = (0.02, 50.0)
"""Odds-ratio axis: estimates and bounds beyond it sit on its edge (arrowheads)."""


def odds_ratio_forest(
    odds_ratios: list[dict[str, Any]], path: Path, names: Callable[[str], str] = lambda s: s
) -> Path | None:
    """Adjusted odds ratios (interquartile-range or level contrasts) with 95 % CIs, log scale; a contrast
    whose odds ratio was not estimable is listed as such."""
    rows = [r for r in odds_ratios if r.get("variable")]
    if not rows:
        return None
    with rc_context(STYLE):
        fig, ax = subplots(figsize=(TEXT_WIDTH * 0.62, 0.7 + 0.22 * len(rows)))
        for i, r in enumerate(rows):
            v = _clip_ci(
                {"value": r.get("odds_ratio"), "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high")}, *OR_BOUNDS
            )
            if v is None or v["value"] <= 0:
                _row_note(ax, i, fmt.NOT_ESTIMABLE)
                continue
            _forest_point(ax, v, i, family_colour("logistic"), "s", 4.5)
        ax.axvline(1, color=GREY, lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlim(*OR_BOUNDS)
        _log_ticks(ax.xaxis)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(
            [
                f"{names(r['variable'])}: {r.get('contrast', '')}".replace(" (interquartile range)", " (IQR)")
                for r in rows
            ]
        )
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(len(rows) - 0.4, -0.6)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("Adjusted odds ratio (95 % CI, log scale)")
        return save(fig, path)


# ---------------------------------------------------------------- SHAP


def shap_importance(
    shaps: dict[str, dict[str, Any]], path: Path, top: int = 15, names: Callable[[str], str] = lambda s: s
) -> Path | None:
    """Mean |SHAP| per predictor, one panel per family (units as reported by the explainer); a value
    that was not estimable is written instead of a bar."""
    items = [(f, s) for f, s in shaps.items() if s and s.get("importance")]
    if not items:
        return None
    n = max(min(len(s["importance"]), top) for _, s in items)
    with rc_context(STYLE):
        fig, axes = subplots(1, len(items), figsize=(TEXT_WIDTH, 0.8 + 0.2 * n), squeeze=False)
        for k, (family, s) in enumerate(items):
            ax = axes[0][k]
            rows = s["importance"][:top]
            widths = floats([r.get("mean_abs_shap") for r in rows])
            ax.barh(range(len(rows)), np.nan_to_num(widths), color=family_colour(family, k), height=0.65)
            for i in np.flatnonzero(~np.isfinite(widths)):
                _row_note(ax, i, fmt.NOT_ESTIMABLE, x=0.02, ha="left")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([names(r["variable"]) for r in rows])
            ax.set_ylim(n - 0.5, -0.6)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="y", visible=False)
            ax.set_title(family_name(family))
            ax.set_xlabel(f"Mean |SHAP| ({s.get('units', 'log-odds')})")
            ax.xaxis.set_major_formatter(number_ticks("shap"))
        fig.tight_layout(w_pad=1.5)
        return save(fig, path)


_BOX_KEYS = ("q05", "q25", "q50", "q75", "q95")


def _bin_label(b: dict[str, Any]) -> str:
    label = str(b.get("bin", ""))
    if label.startswith("fifth "):
        return label.replace("fifth ", "Q")
    return {"True": "yes", "False": "no"}.get(label, label.replace("_", " "))


def _cut_points(ax: Any, bins: list[dict[str, Any]]) -> None:
    """The value at each boundary between two fifths, as minor tick labels under the Q labels."""
    cuts = [
        (i + 0.5, _value(b, "high"))
        for i, b in enumerate(bins[:-1])
        if str(b.get("bin", "")).startswith("fifth ") and str(bins[i + 1].get("bin", "")).startswith("fifth ")
    ]
    cuts = [(x, v) for x, v in cuts if v is not None]
    ax.set_xticks([x for x, _ in cuts], [fmt.compact(v) for _, v in cuts], minor=True)
    ax.tick_params(axis="x", which="minor", pad=11, labelsize=6, length=3, labelcolor=GREY)


def shap_binned(
    shap: dict[str, Any], family: str, path: Path, top: int = 12, names: Callable[[str], str] = lambda s: s
) -> Path | None:
    """Binned beeswarm: for each predictor, the distribution (5th-95th and 25th-75th centiles,
    median) of its SHAP values in each fifth of its value (Q1 lowest; the cut points between fifths
    are written between them) or in each category. A bin whose centiles are not all available is
    marked "n.e." (not estimable)."""
    binned = shap.get("binned") or {}
    order = [r["variable"] for r in shap.get("importance", []) if r["variable"] in binned][:top]
    values = floats([b.get(k) for v in order for b in binned[v] for k in _BOX_KEYS])
    if not order or not np.isfinite(values).any():
        return None
    ncol = 3
    nrow = math.ceil(len(order) / ncol)
    colour = family_colour(family)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (hi - lo or 1)
    with rc_context(STYLE):
        fig, axes = subplots(nrow, ncol, figsize=(TEXT_WIDTH, 1.9 * nrow), squeeze=False, sharey=True)
        for k, var in enumerate(order):
            ax = axes[k // ncol][k % ncol]
            bins = binned[var]
            for i, b in enumerate(bins):
                _shap_box(ax, i, b, colour, lo - pad)
            ax.axhline(0, color=GREY, lw=0.7, ls="--")
            labels = [_bin_label(b) for b in bins]
            wide = max(len(t) for t in labels) > 6 and not any(str(b.get("bin")).startswith("fifth ") for b in bins)
            ax.set_xticks(range(len(bins)))
            ax.set_xticklabels(labels, rotation=30 if wide else 0, ha="right" if wide else "center", fontsize=7)
            _cut_points(ax, bins)
            ax.set_xlim(-0.6, len(bins) - 0.4)
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_title(textwrap.fill(names(var), 30), fontsize=8)
            ax.grid(axis="x", visible=False)
            ax.yaxis.set_major_formatter(number_ticks("shap", digits=1))
            if k % ncol == 0:
                ax.set_ylabel(f"SHAP ({shap.get('units', 'log-odds')})", fontsize=7.5)
        for k in range(len(order), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.tight_layout(h_pad=0.8, w_pad=0.8)
        return save(fig, path)


def _shap_box(ax: Any, i: int, b: dict[str, Any], colour: str, bottom: float) -> None:
    """One bin's box (25th-75th), median line and whiskers (5th-95th); "n.e." when a centile is missing."""
    q05, q25, q50, q75, q95 = (_value(b, k) for k in _BOX_KEYS)
    if None in (q05, q25, q50, q75, q95):
        ax.text(i, bottom, "n.e.", ha="center", va="bottom", fontsize=6, color=GREY, style="italic")
        return
    ax.plot([i, i], [q05, q95], color=colour, lw=1)
    ax.add_patch(Rectangle((i - 0.28, q25), 0.56, max(q75 - q25, 1e-9), fc=colour, alpha=0.35, ec=colour, lw=0.8))
    ax.plot([i - 0.28, i + 0.28], [q50, q50], color="black", lw=1.2)


_RISK_TICKS = [
    0.001,
    0.002,
    0.005,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.035,
    0.04,
    0.05,
    0.06,
    0.07,
    0.08,
    0.1,
    0.12,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
]


def shap_waterfall(
    example: dict[str, Any], units: str, path: Path, top: int = 12, names: Callable[[str], str] = lambda s: s
) -> Path | None:
    """Worked example: contributions of each predictor for the constructed reference profile, from the
    base value (average prediction) to the profile's output; a top axis gives the risk scale.
    Contributions that were not estimable are left out; without a base value there is no figure."""
    contributions = {k: float(v) for k, v in (example.get("contributions") or {}).items() if fmt.finite(v)}
    base = _value(example, "base_value")
    if not contributions or base is None:
        return None
    values = example.get("values") or {}
    items = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
    shown, rest = items[:top], items[top:]
    if rest:
        shown.append((f"{len(rest)} other predictors", float(sum(v for _, v in rest))))
    ends = np.cumsum([base] + [v for _, v in shown])
    lo, hi = float(min(ends)), float(max(ends))
    span = max(hi - lo, 0.5)
    with rc_context(STYLE):
        fig, ax = subplots(figsize=(TEXT_WIDTH * 0.85, 1.0 + 0.24 * (len(shown) + 2)))
        labels = ["Average prediction (base value)"]
        ax.plot([base], [0], "o", color=GREY, ms=6)
        ax.text(base + 0.02 * span, 0, fmt.num(base, "shap"), va="center", ha="left", fontsize=7)
        running = base
        for i, (var, v) in enumerate(shown, start=1):
            colour = "#D55E00" if v > 0 else "#0072B2"
            ax.barh(i, v if abs(v) > 1e-12 else 1e-12, left=running, color=colour, height=0.62)
            right = max(running, running + v)
            ax.text(
                right + 0.015 * span,
                i,
                ("+" if v > 0 else "") + fmt.num(v, "shap"),
                va="center",
                ha="left",
                fontsize=7,
                color="black",
            )
            running += v
            labels.append(f"{names(var)} = {_show(values[var])}" if var in values else var)
        n = len(shown) + 1
        ax.plot([running], [n], "D", color="black", ms=6)
        ax.text(running + 0.02 * span, n, fmt.num(running, "shap"), va="center", ha="left", fontsize=7)
        prob = example.get("probability")
        labels.append(
            "Prediction for this profile"
            + (f" (risk {fmt.percent(prob)})" if fmt.finite(prob) and units == "log-odds" else "")
        )
        ax.axvline(base, color=GREY, lw=0.7, ls=":")
        ax.set_yticks(range(n + 1))
        ax.set_yticklabels(labels)
        ax.set_ylim(n + 0.6, -0.6)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(lo - 0.08 * span, hi + 0.18 * span)
        ax.set_xlabel(f"Model output ({units}); orange bars raise, blue bars lower the predicted risk")
        ax.xaxis.set_major_formatter(number_ticks("shap", digits=1))
        if units == "log-odds":
            top_ax = ax.secondary_xaxis(
                "top",
                functions=(
                    lambda x: 1 / (1 + np.exp(-x)),
                    lambda q: np.log(np.clip(q, 1e-9, 1 - 1e-9) / (1 - np.clip(q, 1e-9, 1 - 1e-9))),
                ),
            )
            a, b = 1 / (1 + math.exp(-(lo - 0.08 * span))), 1 / (1 + math.exp(-(hi + 0.18 * span)))
            ticks = [c for c in _RISK_TICKS if a <= c <= b]
            while len(ticks) > 7:
                ticks = ticks[::2]
            top_ax.set_xticks(ticks)
            top_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt.threshold(v)))
            top_ax.set_xlabel("Predicted risk")
            top_ax.tick_params(labelsize=7.5)
        return save(fig, path)


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool) or value in ("True", "False"):
        return "yes" if value in (True, "True") else "no"
    if isinstance(value, float):
        return fmt.num(value, digits=0 if value.is_integer() else 1)
    return str(value)


# ---------------------------------------------------------------- time to event


def km_by_risk_group(
    km: list[dict[str, Any]],
    horizon: float | None,
    family: str,
    path: Path,
    at_risk: list[dict[str, Any]] | None = None,
) -> Path | None:
    """Kaplan-Meier event-free proportion by group of predicted risk (1 = lowest), with 95 % bands and,
    when the Evidence has them, the numbers at risk under the axis. Steps that were not estimable are
    left out."""
    groups = sorted({r["group"] for r in km if fmt.finite(r.get("group"))})
    if not groups:
        return None
    names = {groups[0]: "lowest", groups[-1]: "highest"} if len(groups) > 1 else {}
    with rc_context(STYLE):
        fig, ax = subplots(figsize=(TEXT_WIDTH * 0.75, 3.0))
        for i, g in enumerate(groups):
            colour = RISK_GROUP_COLOURS[i % len(RISK_GROUP_COLOURS)]
            rows = [r for r in km if r.get("group") == g]
            n = next((r.get("n") for r in rows if fmt.finite(r.get("n"))), None)
            label = f"Risk group {g}{' (' + names[g] + ')' if g in names else ''}: n = {fmt.integer(n)}"
            _km_curve(ax, rows, colour, label)
        if fmt.finite(horizon):
            ax.axvline(horizon, color=GREY, ls=":", lw=0.9)
            ax.text(horizon, 1.0, f" horizon {fmt.integer(horizon)} days", fontsize=7, color=GREY, va="top")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.set_ylabel("Event-free proportion")
        ax.yaxis.set_major_formatter(pct_ticks())
        ax.set_title(family_name(family))
        ax.legend(loc="lower left", frameon=True, facecolor="white", edgecolor="none", framealpha=1.0)
        _at_risk_table(ax, at_risk or [], groups)
        return save(fig, path)


def _km_curve(ax: Any, rows: list[dict[str, Any]], colour: str, label: str) -> None:
    """One group's step curve and band from its finite (time, survival) rows, in time order."""
    t, surv = floats([r.get("time") for r in rows]), floats([r.get("survival") for r in rows])
    lo, hi = floats([r.get("lower_ci") for r in rows]), floats([r.get("upper_ci") for r in rows])
    ok = np.isfinite(t) & np.isfinite(surv)
    order = np.argsort(t[ok])
    if not ok.any():
        ax.plot([], [], color=colour, label=f"{label} ({fmt.NOT_ESTIMABLE})")
        return
    ax.step(t[ok][order], surv[ok][order], where="post", color=colour, label=label)
    band = np.isfinite(lo[ok][order]) & np.isfinite(hi[ok][order])
    ax.fill_between(
        t[ok][order][band], lo[ok][order][band], hi[ok][order][band], step="post", color=colour, alpha=0.12, lw=0
    )


AT_RISK_TOP, AT_RISK_STEP = -0.3, 0.09
"""Axes-fraction positions of the numbers-at-risk table under a Kaplan-Meier plot (below the x label)."""


def _at_risk_table(ax: Any, at_risk: list[dict[str, Any]], groups: list[Any]) -> None:
    """Numbers at risk per risk group under the time axis, at the times the Evidence gives them."""
    ax.set_xlabel("Days after surgery")
    rows = [r for r in at_risk if r.get("group") in groups and fmt.finite(r.get("time"))]
    if not rows:
        return
    transform = ax.get_xaxis_transform()
    ax.text(
        -0.02,
        AT_RISK_TOP,
        "Number at risk",
        transform=ax.transAxes,
        ha="right",
        va="center",
        fontsize=7,
        color=GREY,
        fontweight="bold",
    )
    for i, g in enumerate(groups):
        y = AT_RISK_TOP - AT_RISK_STEP * (i + 1)
        colour = RISK_GROUP_COLOURS[i % len(RISK_GROUP_COLOURS)]
        ax.text(-0.02, y, f"risk group {g}", transform=ax.transAxes, ha="right", va="center", fontsize=7, color=colour)
        for r in rows:
            if r["group"] == g:
                ax.text(
                    r["time"],
                    y,
                    fmt.integer(r.get("n_at_risk")),
                    transform=transform,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=colour,
                )
    last = max(r["time"] for r in rows)
    ax.set_xlim(left=-0.03 * last, right=max(ax.get_xlim()[1], last * 1.04))
    ax.set_xticks(sorted({r["time"] for r in rows}))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt.integer(v)))


def calibration_at_horizon(families: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Mean predicted risk against Kaplan-Meier observed risk at the horizon, per fifth of risk;
    fifths that were not estimable are left out."""
    items = []
    for f, r in families.items():
        rows = r["cross_validation"].get("calibration_at_horizon") or []
        xy = [(r2.get("predicted"), r2.get("observed")) for r2 in rows]
        xy = [(x, y) for x, y in xy if fmt.finite(x) and fmt.finite(y)]
        if xy:
            items.append((f, xy))
    if not items:
        return None
    upper = nice_upper(max(0.02, *(max(x, y) * 1.05 for _, xy in items for x, y in xy)))
    with rc_context(STYLE):
        fig, ax = subplots(figsize=(TEXT_WIDTH * 0.55, TEXT_WIDTH * 0.5))
        ax.plot([0, upper], [0, upper], color=LIGHT, ls="--", lw=1, label="Ideal")
        for i, (family, xy) in enumerate(items):
            ax.plot(
                [x for x, _ in xy],
                [y for _, y in xy],
                "o-",
                color=family_colour(family, i),
                label=family_name(family),
                ms=4.5,
                lw=1.1,
            )
        ax.set_xlim(0, upper)
        ax.set_ylim(0, upper)
        ax.set_aspect("equal")
        ax.set_xlabel("Mean predicted risk at horizon")
        ax.set_ylabel("Observed risk (Kaplan-Meier)")
        ax.xaxis.set_major_formatter(pct_ticks())
        ax.yaxis.set_major_formatter(pct_ticks())
        ax.legend(loc="upper left")
        return save(fig, path)
