"""Property: corrupting random bytes and lines of a valid export never breaks the reader's promises.

Whatever the corruption, validation and scoring end in rows and rejects or in a file-level
refusal (never a traceback); rows in = clean + rejected; a line is never both clean and rejected; every line
reported exists in the file, and a clean row's patient key is the first field of its line as
written (split by the detected delimiter, independently of the reader).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spineoutcome.data import ExportReadError, open_export, read_export, validate_export
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import DataDictionary

DICTIONARY = DataDictionary.load()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("synth")
    generate_cohort(folder, n=25, seed=9, tables=["clinical"])
    return (folder / "clinical.csv").read_bytes()


NASTY = [b"\x00", b"\r", b"\n", b'"', b",", b"\xff", b"\xc3", b"\t", b" ", b"=", b"\x07", b";", b"\r\n"]


@st.composite
def corruptions(draw: st.DrawFn, size: int) -> list[tuple[str, int, bytes]]:
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "duplicate_line", "drop_line"]))
        position = draw(st.integers(0, max(size - 1, 0)))
        payload = draw(st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=4)))
        steps.append((kind, position, payload))
    return steps


def corrupt(data: bytes, steps: list[tuple[str, int, bytes]]) -> bytes:
    for kind, position, payload in steps:
        position = min(position, max(len(data) - 1, 0))
        if kind == "replace":
            data = data[:position] + payload + data[position + len(payload) :]
        elif kind == "insert":
            data = data[:position] + payload + data[position:]
        elif kind == "delete":
            data = data[:position] + data[position + len(payload) :]
        else:
            lines = data.split(b"\n")
            k = position % len(lines)
            lines = lines[: k + 1] + lines[k:] if kind == "duplicate_line" else lines[:k] + lines[k + 1 :]
            data = b"\n".join(lines)
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_keeps_every_row(export: bytes, tmp_path: Path, data: st.DataObject) -> None:
    steps = data.draw(corruptions(len(export)))
    corrupted = corrupt(export, steps)
    path = tmp_path / "clinical.csv"
    path.write_bytes(corrupted)
    try:
        raw = read_export(path)
    except ExportReadError:
        return  # a file-level refusal, with a message: allowed
    report = validate_export(raw, "clinical", DICTIONARY)
    rows_in = report.rows_in
    rejected = set(report.rejects["line"].astype(int)) if len(report.rejects) else set()
    clean_lines = set(report.clean_lines.tolist())
    assert rows_in == report.rows_clean + report.rows_rejected
    assert clean_lines.isdisjoint(rejected)
    assert len(clean_lines) == report.rows_clean
    n_lines = corrupted.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    assert all(1 <= line <= n_lines for line in clean_lines | rejected)
    assert isinstance(report.clean, pd.DataFrame)
    if report.fatal:
        assert report.rows_clean == 0
        return
    physical = re.split(rb"\r\n|\n|\r", corrupted)
    delimiter = (raw.delimiter or ",").encode()
    for line, key in zip(report.clean_lines.tolist(), report.clean["patient_id"], strict=True):
        first = physical[line - 1].split(delimiter)[0]
        if b'"' not in physical[line - 1] and first.isascii():
            assert first.decode().strip() == key


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_through_score_keeps_every_row(
    export: bytes, scoring_model, tmp_path_factory, data: st.DataObject
) -> None:
    from spineoutcome.scoring.export import score_export

    folder = tmp_path_factory.mktemp("scored")
    corrupted = corrupt(export, data.draw(corruptions(len(export))))
    path = folder / "clinical.csv"
    path.write_bytes(corrupted)
    try:
        summary = score_export([scoring_model], path, folder / "scores.csv", chunk_size=5, explain=False, band=False)
    except ExportReadError:
        return
    scores = pd.read_csv(folder / "scores.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(folder / "scores.rejects.csv", dtype=str, keep_default_na=False)
    rejected = set(rejects["line"].astype(int))
    assert summary.invariant_holds and summary.rows_scored == len(scores)
    assert summary.rows_rejected == len(rejected)
    assert set(scores["line"].astype(int)).isdisjoint(rejected)
    physical = re.split(rb"\r\n|\n|\r", corrupted)
    delimiter = (open_export(path).delimiter or ",").encode()
    for line, key in zip(scores["line"].astype(int), scores["patient_id"], strict=True):
        first = physical[line - 1].split(delimiter)[0]
        if b'"' not in physical[line - 1] and first.isascii() and not key.startswith("'"):
            assert first.decode().strip() == key
