"""Report sections as a registry: the machinery every report of the package is built with.

A report is a tuple of :class:`ReportSection`. Each section names the task kinds it applies to and
the TRIPOD+AI items it addresses (checked against the checklist's section ids by the tests), and
writes blocks (:mod:`.blocks`) into a :class:`Document`. :func:`build_document` runs the sections
that apply to an Evidence, in order. The development report is
:data:`spineoutcome.report.document.DEVELOPMENT_SECTIONS`; a validation or monitoring report is
another tuple, reusing its sections or adding its own, and the same renderer typesets it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import blocks as B
from . import numbers as fmt

BINARY = frozenset({"binary"})
TIME_TO_EVENT = frozenset({"time_to_event"})
ALL_KINDS = BINARY | TIME_TO_EVENT


def task_kind(evidence: dict[str, Any]) -> str:
    """``"binary"`` or ``"time_to_event"`` (the Evidence's ``task.kind`` names the censoring, e.g.
    ``interval_censored``)."""
    return "binary" if evidence.get("task", {}).get("kind", "binary") == "binary" else "time_to_event"


class Document:
    """Blocks, the ids of the sections present, the figures, and what sections leave for others
    (the limitations found, the checklist rows)."""

    def __init__(self, evidence: dict[str, Any], figures_dir: Path, figure_prefix: str = "figures") -> None:
        self.ev = evidence
        self.blocks: list[dict[str, Any]] = []
        self.present: set[str] = set()
        self.figures_dir = figures_dir
        self.figure_prefix = figure_prefix
        self.figures: list[Path] = []
        self.limitations: list[dict[str, Any]] = []
        self.checklist: list[dict[str, Any]] = []

    def add(self, *blocks: dict[str, Any] | None) -> None:
        """Append blocks (None is skipped); a heading with an id marks that id present."""
        for block in blocks:
            if block is None:
                continue
            if block.get("t") == "h" and block.get("id"):
                self.present.add(block["id"])
            self.blocks.append(block)

    def figure(
        self, path: Path | None, caption: str, id: str, width: str = "100%", *, missing: str | None = None
    ) -> None:
        """Add a drawn figure; a figure that could not be drawn is announced with ``missing``, if given."""
        if path is None:
            if missing:
                self.add(B.callout("missing", f"{missing}: {fmt.NOT_ESTIMABLE} from this Evidence."))
            return
        self.figures.append(path)
        self.add(B.figure(f"{self.figure_prefix}/{path.name}", caption, id=id, width=width))

    def fig_path(self, name: str) -> Path:
        """Where the figure ``name`` is drawn (SVG)."""
        return self.figures_dir / f"{name}.svg"


@dataclass(frozen=True)
class ReportSection:
    """One section: ``write(doc)`` adds its blocks; it runs for Evidence of ``kinds``; ``items`` are the
    TRIPOD+AI items (ids of ``tripod_ai.yaml``) its headings address."""

    name: str
    write: Callable[[Document], Any]
    kinds: frozenset[str] = ALL_KINDS
    items: tuple[str, ...] = ()

    def applies(self, evidence: dict[str, Any]) -> bool:
        """Whether the section is part of the report of ``evidence``."""
        return task_kind(evidence) in self.kinds


def build_document(
    evidence: dict[str, Any], figures_dir: Path, sections: tuple[ReportSection, ...], *, figure_prefix: str = "figures"
) -> Document:
    """Run every section of ``sections`` that applies to ``evidence``, in order."""
    doc = Document(evidence, figures_dir, figure_prefix)
    for section in sections:
        if section.applies(evidence):
            section.write(doc)
    return doc
