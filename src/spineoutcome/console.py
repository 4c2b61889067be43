"""What the command line shows while it works: progress, tables and the noise it keeps out.

The engine never prints; it sends :class:`~spineoutcome.progress.ProgressEvent` values (or, from
older callers, plain strings) and :class:`ProgressDisplay` shows them:

- **on a terminal**: one rich progress bar per pipeline, with its current step, done of total and
  an estimated time remaining (from the rate of ``done`` over the elapsed time);
- **otherwise** (a CI log, ``| tee``, a test runner): one plain line per stage change of a pipeline
  (not one per fit), prefixed by the elapsed time, and a closing line per pipeline; no control
  characters. A string message's stage is its text with the numbers masked, so
  ``"lightgbm: cv repeat 1 fold 3"`` and ``"... fold 4"`` are one stage.

:class:`CommandConsole` is rich's console on standard error, except that when the output is not a
terminal it is :data:`PIPE_WIDTH` columns wide, so tables are never cut at the terminal's (or
rich's default 80) columns in a log. :func:`configure_logging` keeps MLflow's INFO lines, its
artifact progress bars and the database migration chatter (alembic, SQLAlchemy) out of the output
unless ``--verbose``; warnings still show.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from spineoutcome.progress import ProgressEvent

PIPE_WIDTH = 1000
"""Columns of the console when the output is not a terminal: wide enough for any table."""
QUIET_LOGGERS = ("mlflow", "alembic", "sqlalchemy", "urllib3", "git")
"""Loggers held at WARNING unless ``--verbose`` (MLflow and what it runs underneath)."""
STAGE_NAMES = {
    "cv": "cross-validation",
    "final": "final model",
    "bootstrap": "bootstrap",
    "iecv": "internal-external validation",
    "temporal": "temporal validation",
    "evaluation": "evaluation",
    "shap": "SHAP",
    "report": "report",
    "logging": "MLflow logging",
}
"""How a plain line names an engine stage (:class:`ProgressEvent` ``stage``); others as they are."""


class CommandConsole(Console):
    """rich's console on standard error; :data:`PIPE_WIDTH` columns wide when it is not a terminal
    (rich would otherwise use the controlling terminal's width, or 80)."""

    def __init__(self) -> None:
        super().__init__(stderr=True)

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or :data:`PIPE_WIDTH` columns when the output is not a terminal."""
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(PIPE_WIDTH, size.height)


def configure_logging(verbose: bool) -> None:
    """Silence MLflow's INFO logging, its artifact progress bars and alembic/SQLAlchemy, unless ``verbose``.

    Sets ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false`` and ``MLFLOW_LOGGING_LEVEL=WARNING`` (read by
    MLflow at import and when it moves artifacts) unless the user set them, and holds the loggers of
    :data:`QUIET_LOGGERS` at WARNING for an MLflow already imported. Verbose restores the defaults.
    """
    if verbose:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET if name != "mlflow" else logging.INFO)
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass
class _Pipeline:
    started: float
    stage: str | None = None
    done: int = 0
    total: int | None = None
    task: TaskID | None = None


class ProgressDisplay:
    """Shows a command's progress events (module docstring); use as a context manager and call it
    with each :class:`ProgressEvent` or string.

    ``default``: the pipeline a plain string belongs to (e.g. ``"c5_palsy"``); ``interactive``:
    bars (True) or plain lines (False), by default whether ``console`` is a terminal; ``clock``:
    seconds, for the elapsed times.
    """

    def __init__(
        self,
        console: Console,
        default: str,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.default = default
        self.interactive = console.is_terminal if interactive is None else interactive
        self.clock = clock
        self._pipelines: dict[str, _Pipeline] = {}
        self._bars: Progress | None = None
        self._start = clock()

    def __enter__(self) -> ProgressDisplay:
        self._start = self.clock()
        if self.interactive:
            self._bars = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[pipeline]}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.description}", markup=False),
                console=self.console,
                transient=False,
            )
            self._bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bars is not None:
            for state in self._pipelines.values():
                if kind is None and state.task is not None:  # a finished bar: full, its spinner stopped
                    total = state.total if state.total is not None else state.done
                    self._bars.update(state.task, completed=max(state.done, total), total=total)
            self._bars.stop()
            self._bars = None
        elif kind is None:
            for name, state in self._pipelines.items():
                steps = f"{state.done} of {state.total}, " if state.total else ""
                self._line(f"{name}: finished ({steps}{_clock(self.clock() - state.started)})")

    def __call__(self, event: ProgressEvent | str) -> None:
        """Show one event: a plain string belongs to ``default``, its stage is its masked text."""
        if not isinstance(event, ProgressEvent):
            text = str(event)
            event = ProgressEvent(self.default, re.sub(r"\d+", "#", text), text)
        state = self._pipelines.get(event.pipeline)
        if state is None:
            state = self._pipelines[event.pipeline] = _Pipeline(started=self.clock())
        if event.total is not None or event.done:
            state.done, state.total = event.done, event.total if event.total is not None else state.total
        elif state.total is None:
            state.done += 1  # nothing is counted: count the messages
        changed = event.stage != state.stage
        state.stage = event.stage
        if self._bars is not None:
            if state.task is None:
                state.task = self._bars.add_task(event.message, total=state.total, pipeline=event.pipeline)
            self._bars.update(state.task, completed=state.done, total=state.total, description=event.message)
        elif changed:
            stage = STAGE_NAMES.get(event.stage)
            counted = f" ({state.done} of {state.total})" if state.total else ""
            self._line(f"{event.pipeline}: {f'{stage}: ' if stage else ''}{event.message}{counted}")

    def print(self, message: str, *, style: str | None = None) -> None:
        """Print a line of text (above the bars on a terminal), never read as markup."""
        self.console.print(message, style=style, markup=False, highlight=False)

    def _line(self, text: str) -> None:
        self.console.print(f"[{_clock(self.clock() - self._start)}] {text}", markup=False, highlight=False)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
