"""What the command line shows: plain lines per stage off a terminal, bars on one, full-width tables,
MLflow's chatter silenced unless ``--verbose``."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

import spineoutcome
from spineoutcome.cli import app
from spineoutcome.console import PIPE_WIDTH, QUIET_LOGGERS, CommandConsole, ProgressDisplay, configure_logging
from spineoutcome.progress import ProgressEvent


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=100, force_terminal=False), out


def engine_events(pipeline: str) -> list[ProgressEvent]:
    """What the engine sends for one pipeline: 5 CV fits of 2 families, 4 bootstrap refits, SHAP, report."""
    events, done, total = [], 0, 16
    for family in ("logistic", "lightgbm"):
        for k in range(1, 6):
            done += 1
            events.append(ProgressEvent(pipeline, "cv", f"{family}: CV fold {k} of 5", done, total, family))
    for r in range(1, 5):
        done += 1
        events.append(ProgressEvent(pipeline, "bootstrap", f"lightgbm: bootstrap {r} of 4", done, total, "lightgbm"))
    events.append(ProgressEvent(pipeline, "shap", "SHAP values", done + 1, total))
    events.append(ProgressEvent(pipeline, "report", "report", done + 2, total))
    return events


def test_off_a_terminal_one_plain_line_per_stage_change() -> None:
    console, out = plain_console()
    clock = Clock()
    with ProgressDisplay(console, "c5_palsy", clock=clock) as show:
        for i, event in enumerate(engine_events("c5_palsy"), start=1):
            clock.now = 2.0 * i
            show(event)
        clock.now = 40.0
    lines = out.getvalue().splitlines()
    assert lines == [
        "[0:00:02] c5_palsy: cross-validation: logistic: CV fold 1 of 5 (1 of 16)",
        "[0:00:22] c5_palsy: bootstrap: lightgbm: bootstrap 1 of 4 (11 of 16)",
        "[0:00:30] c5_palsy: SHAP: SHAP values (15 of 16)",
        "[0:00:32] c5_palsy: report: report (16 of 16)",
        "[0:00:40] c5_palsy: finished (16 of 16, 0:00:38)",
    ]
    assert "\x1b" not in out.getvalue()


def test_plain_strings_group_by_their_text_without_numbers() -> None:
    console, out = plain_console()
    clock = Clock()
    with ProgressDisplay(console, "mcid", clock=clock) as show:
        for k in range(1, 4):
            show(f"xgboost: cv repeat 1 fold {k}")
        for r in range(1, 11):
            show(f"bootstrap replicate {r}")
        clock.now = 65.0
    assert out.getvalue().splitlines() == [
        "[0:00:00] mcid: xgboost: cv repeat 1 fold 1",
        "[0:00:00] mcid: bootstrap replicate 1",
        "[0:01:05] mcid: finished (0:01:05)",
    ]


def test_nothing_closes_when_the_command_fails() -> None:
    console, out = plain_console()
    with pytest.raises(RuntimeError), ProgressDisplay(console, "x", clock=Clock()) as show:
        show("step 1")
        raise RuntimeError("boom")
    assert "finished" not in out.getvalue()


def test_on_a_terminal_one_bar_per_pipeline_with_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True, color_system="standard")
    with ProgressDisplay(console, "demo") as show:
        for a, b in zip(engine_events("c5_palsy"), engine_events("mcid_mjoa_12m"), strict=True):
            show(a)
            show(b)
    text = out.getvalue()
    assert "\x1b" in text  # a live display
    final = text.rsplit("\x1b[2K", 2)  # the last frame: one line per pipeline
    assert "c5_palsy" in text and "mcid_mjoa_12m" in text and "16/16" in text and "ETA" in text
    assert len(final) == 3


def test_command_console_is_wide_off_a_terminal() -> None:
    console = CommandConsole()
    console.file = io.StringIO()
    assert not console.is_terminal and console.width == PIPE_WIDTH
    table = Table(title="wide")
    for k in range(12):
        table.add_column(f"column number {k}")
    table.add_row(*[f"value {k} " * 3 for k in range(12)])
    console.print(table)
    rendered = console.file.getvalue()
    assert "column number 11" in rendered and "value 11 value 11 value 11" in rendered
    assert max(len(line) for line in rendered.splitlines()) > 200  # one row, not folded at 80


def test_mlflow_is_quiet_unless_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MLFLOW_LOGGING_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        configure_logging(False)
        assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
        assert all(logging.getLogger(name).level == logging.WARNING for name in QUIET_LOGGERS)
        logging.getLogger("mlflow").warning("a warning still shows")  # not raised to ERROR
        assert logging.getLogger("mlflow").isEnabledFor(logging.WARNING)
        configure_logging(True)
        assert logging.getLogger("mlflow").isEnabledFor(logging.INFO)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_synth_and_train_off_a_terminal_print_plain_lines_and_whole_tables(tmp_path: Path) -> None:
    """``CliRunner`` is not a terminal: plain lines, no control characters, tables not cut at 80."""
    runner = CliRunner()
    data = tmp_path / ("a-folder-with-a-long-name-" * 3) / "cohort"
    result = runner.invoke(app, ["synth", "--n", "300", "--seed", "3", "--out", str(data)])
    assert result.exit_code == 0, result.output
    assert "synth: generate: Generating patients" in result.output or "synth: Generating patients" in result.output
    assert str(data / "clinical.csv") in result.output  # the whole path on one line of the table
    assert "\x1b" not in result.output
    spec = {
        "name": "tiny",
        "outcome": "complication_any",
        "predictors": {"include": ["age", "sex", "diabetes"]},
        "families": ["logistic"],
        "validation": {"folds": 3, "bootstrap": {"replicates": 5}, "internal_external": False},
        "subgroups": {"variables": []},
        "seed": 1,
    }
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = runner.invoke(
        app,
        ["train", str(pipeline), "--data", str(data), "--out", str(tmp_path / "runs"), "--no-report", "--no-mlflow"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    progress = [line for line in lines if line.startswith("[") and "] tiny: " in line]
    assert 2 <= len(progress) <= 12 and progress[-1].split("] ", 1)[1].startswith("tiny: finished")
    header = next(line for line in lines if "calibration intercept" in line)
    assert "optimism-corrected AUC" in header  # the summary table's whole header on one line
    assert "\x1b" not in result.output


def test_a_real_terminal_gets_bars(tmp_path: Path) -> None:
    """A pseudo-terminal: the display draws rich bars with control sequences and an ETA."""
    script = (
        "from spineoutcome.console import CommandConsole, ProgressDisplay\n"
        "from spineoutcome.progress import ProgressEvent\n"
        "with ProgressDisplay(CommandConsole(), 'x') as show:\n"
        "    for k in range(1, 11):\n"
        "        show(ProgressEvent('c5_palsy', 'cv', f'lightgbm: CV fold {k} of 10', k, 10))\n"
    )
    leader, follower = pty.openpty()
    source = str(Path(spineoutcome.__file__).parents[1])
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm", "PYTHONPATH": source}
    process = subprocess.Popen([sys.executable, "-c", script], stderr=follower, stdout=follower, env=env)
    os.close(follower)
    chunks = []
    while True:  # read while it writes (a full pseudo-terminal buffer would block it)
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    process.wait(timeout=120)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert process.returncode == 0, text
    assert "\x1b[" in text and "c5_palsy" in text and "10/10" in text and "ETA" in text
