"""Render an Evidence record into the TRIPOD+AI report PDF (Typst, from the PyPI ``typst`` package).

The work directory holds the template, the document model (``doc.json``, built by document.py
from the Evidence alone) and the figures (SVG, matplotlib). Typst reads only those files: no
system fonts (the template uses Typst's embedded Libertinus Serif and matplotlib's DejaVu fonts),
no network, no package downloads, so a fresh machine renders the same PDF.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib

from spineoutcome.errors import SpineoutcomeError
from spineoutcome.evidence import evidence_record
from spineoutcome.privacy import disclose

from .document import build

TEMPLATE = "template.typ"


class ReportError(SpineoutcomeError, RuntimeError):
    """The report could not be typeset (the message carries Typst's diagnostics)."""


def prepare_evidence(evidence: Any) -> dict[str, Any]:
    """The Evidence as the report and the model card read it: plain data in the current schema.

    The one entry point of everything the report machinery renders (PDF and model card): a
    transformation that must apply to all of it (such as a disclosure rule) belongs here.
    ``evidence``: an Evidence object or dict, a run directory or an ``evidence.json`` path.
    """
    return disclose(evidence_record(evidence))


def font_paths() -> list[str]:
    """matplotlib's bundled DejaVu fonts: the figures' font, available wherever matplotlib is."""
    return [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")]


def render_report(
    evidence: dict[str, Any] | str | Path, out_pdf: str | Path, *, figures_dir: str | Path | None = None
) -> Path:
    """Typeset the TRIPOD+AI report of one run.

    ``evidence`` is an Evidence dict (``Evidence.to_dict()`` or ``load_evidence``), an Evidence
    object, a run directory or an ``evidence.json`` path. ``figures_dir``, if given, receives a
    copy of every figure (SVG) and the document model ``report.json`` (e.g. for MLflow artifacts).
    Returns the path of the PDF.
    """
    import typst

    record = prepare_evidence(evidence)
    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spineoutcome-report-") as tmp:
        work = Path(tmp)
        model = build(record, work / "figures")
        shutil.copyfile(resources.files(__package__).joinpath(TEMPLATE), work / TEMPLATE)
        (work / "doc.json").write_text(json.dumps(model, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        try:
            typst.compile(
                str(work / TEMPLATE),
                output=str(out_pdf),
                root=str(work),
                font_paths=font_paths(),
                ignore_system_fonts=True,
                sys_inputs={"doc": "doc.json"},
            )
        except Exception as exc:  # typst.TypstError carries the diagnostics
            raise ReportError(f"Typst could not typeset the report: {exc}") from exc
        if figures_dir is not None:
            target = Path(figures_dir)
            target.mkdir(parents=True, exist_ok=True)
            for path in (work / "figures").glob("*.svg"):
                shutil.copyfile(path, target / path.name)
            (target / "report.json").write_text(
                json.dumps(model, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8"
            )
    return out_pdf
