"""The document model between the Evidence and the Typst template.

A report is a list of plain-JSON blocks (headings, paragraphs, tables, figures, fill-in fields,
...). Every string in a block is final text: numbers were formatted by ``numbers.py`` on the
Python side, and the template only lays the blocks out, so there is exactly one number format.
Paragraphs are lists of runs: a string, or ``{"b": text}`` (bold), ``{"i": text}`` (italic),
``{"m": text}`` (monospace) and ``{"ref": section_id}`` (a cross-reference with its page).
"""

from __future__ import annotations

from typing import Any

Run = str | dict[str, str]
Cell = str | dict[str, Any]


def h(level: int, text: str, id: str | None = None, *, outline: bool = True) -> dict[str, Any]:
    """A heading of ``level`` (1 = section); ``id`` makes it a target of references and of the checklist."""
    return {"t": "h", "level": level, "text": text, "id": id, "outline": outline}


def p(*runs: Run) -> dict[str, Any]:
    """A paragraph of runs (text, bold, italic, code, references)."""
    return {"t": "p", "runs": list(runs)}


def lead(*runs: Run) -> dict[str, Any]:
    """A paragraph that introduces the next block (a figure, a table) and stays on its page."""
    return {"t": "p", "runs": list(runs), "sticky": True}


def b(text: str) -> dict[str, str]:
    """Bold text run."""
    return {"b": text}


def i(text: str) -> dict[str, str]:
    """Italic text run."""
    return {"i": text}


def m(text: str) -> dict[str, str]:
    """Monospace (code) text run."""
    return {"m": text}


def ref(section_id: str) -> dict[str, str]:
    """A reference to the block with ``id`` (section number or figure/table number in the PDF)."""
    return {"ref": section_id}


def bullets(*items: list[Run] | Run) -> dict[str, Any]:
    """A bulleted list; each item is a list of runs."""
    return {"t": "list", "items": [item if isinstance(item, list) else [item] for item in items]}


def cell(text: str, **style: Any) -> dict[str, Any]:
    """A table cell with style: b (bold), i (italic), colspan, align ("left"/"right"/"center"), muted, fill."""
    return {"text": text, **style}


def table(
    header: list[Cell] | list[list[Cell]],
    rows: list[list[Cell]],
    *,
    widths: list[str] | None = None,
    align: list[str] | None = None,
    caption: str | None = None,
    id: str | None = None,
    note: str | None = None,
    size: float = 8.0,
    landscape: bool = False,
) -> dict[str, Any]:
    """A table; ``header`` is one row or a list of rows (multi-row header); widths are Typst track
    sizes ("auto", "1fr", "2.5cm"); align is one of "l", "r", "c" per column."""
    header_rows = header if header and isinstance(header[0], list) else [header]
    ncol = sum(c.get("colspan", 1) if isinstance(c, dict) else 1 for c in header_rows[-1])
    ncol = max(ncol, max((sum(c.get("colspan", 1) if isinstance(c, dict) else 1 for c in r) for r in rows), default=0))
    return {
        "t": "table",
        "header": header_rows,
        "rows": rows,
        "widths": widths or ["auto"] * ncol,
        "align": align or (["l"] + ["r"] * (ncol - 1)),
        "caption": caption,
        "id": id,
        "note": note,
        "size": size,
        "landscape": landscape,
    }


def keyvals(
    rows: list[tuple[str, str]],
    *,
    id: str | None = None,
    caption: str | None = None,
    widths: tuple[str, str] = ("4.2cm", "1fr"),
    size: float = 8.5,
) -> dict[str, Any]:
    """A two-column definition table (label, value) without vertical rules."""
    return {
        "t": "keyvals",
        "rows": [list(r) for r in rows],
        "widths": list(widths),
        "id": id,
        "caption": caption,
        "size": size,
    }


def figure(path: str, caption: str, *, id: str | None = None, width: str = "100%") -> dict[str, Any]:
    """A figure (SVG path relative to the report) with its caption and reference id."""
    return {"t": "figure", "path": path, "caption": caption, "id": id, "width": width}


def callout(kind: str, *runs: Run) -> dict[str, Any]:
    """A boxed note: kind "info" (grey), "warn" (amber) or "missing" (the section has no Evidence)."""
    return {"t": "callout", "kind": kind, "runs": list(runs)}


def fillin(item: str, topic: str, prompt: str, *, lines: int = 3) -> dict[str, Any]:
    """A clearly marked field the authors must complete (TRIPOD+AI item ``item``)."""
    return {"t": "fillin", "item": item, "topic": topic, "prompt": prompt, "lines": lines, "id": f"fill-{item}"}


def flow(steps: list[dict[str, Any]], final: list[dict[str, Any]]) -> dict[str, Any]:
    """Participant flow: boxes with n, exclusion boxes beside the arrows, and the outcome split."""
    return {"t": "flow", "steps": steps, "final": final}


def pagebreak() -> dict[str, Any]:
    """A page break."""
    return {"t": "pagebreak"}


def checklist(rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """The TRIPOD+AI checklist table from checklist rows, with the checklist's source."""
    return {"t": "checklist", "rows": rows, "source": source}
