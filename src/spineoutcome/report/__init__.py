"""TRIPOD+AI report (PDF) and model card (JSON) of a run, read from its Evidence record only.

render_report(evidence, out_pdf, figures_dir=None) -> Path
model_card(evidence) -> dict
"""

from .card import model_card, write_model_card
from .checklist import item_ids, load_checklist
from .render import ReportError, render_report

__all__ = ["ReportError", "item_ids", "load_checklist", "model_card", "render_report", "write_model_card"]
