"""What a long computation tells its caller while it runs: one event per finished step.

The engine (``experiment``, ``demo``) emits :class:`ProgressEvent` values and never prints; the
command line decides how to show them (a progress bar on a terminal, one plain line per stage
otherwise, nothing when silenced). ``str(event)`` is its one-line message, so a caller that only
wants text can treat events as strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One finished step of a pipeline.

    ``stage``: the plan's stage (``cv``, ``final``, ``bootstrap``, ``iecv``, ``temporal``) or a later
    step (``evaluation``, ``shap``, ``report``, ``logging``). ``done`` of ``total`` counts the units
    of the whole pipeline (its planned fits, then one per later step) so that an ETA can be formed;
    ``total`` is None when it is not known in advance. ``message``: what a person reads, e.g.
    ``"lightgbm: CV fold 3 of 5"``.
    """

    pipeline: str
    stage: str
    message: str
    done: int = 0
    total: int | None = None
    family: str | None = None

    def __str__(self) -> str:
        return self.message


Progress = Callable[[ProgressEvent], None]
"""A receiver of progress events (module docstring)."""
