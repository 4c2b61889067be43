"""The fault corpus through ``validate`` (the command) and ``score`` (the API): no valid file refused,
no traceback, no row lost or silently changed, no patient key on the console.

Invariants checked on every variant (see :mod:`.corpus`):
- exit code in {0, 1, 3}, and 3 exactly for the files that cannot be a table; no traceback;
- rows in = clean + rejected = the records the file holds by construction (cross-checked with the
  csv module, openpyxl or pyarrow where they can count);
- every reject names a line that holds the reported value; lines with a built-in fault are rejected;
- the clean rows are exactly the unrejected records (by patient key);
- no patient key on the console.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spineoutcome.cli import app
from spineoutcome.data.sources import ExportReadError
from spineoutcome.data.synth import generate_cohort
from spineoutcome.outputs import FORMULA_TRIGGERS, NEUTRALISER
from spineoutcome.scoring.export import score_export

from .corpus import Variant, build_corpus, parquet_variants, xlsx_variants

N_PATIENTS = 30


def _synthetic_base() -> pd.DataFrame:
    """A small synthetic clinical export, read as text (built once, when the tests are collected)."""
    with tempfile.TemporaryDirectory(prefix="corpus-") as folder:
        generate_cohort(folder, n=N_PATIENTS, seed=5, tables=["clinical"])
        return pd.read_csv(Path(folder) / "clinical.csv", dtype=str, keep_default_na=False)


BASE = _synthetic_base()
CORPUS = [*build_corpus(BASE), *xlsx_variants(BASE), *parquet_variants(BASE)]
NAMES = [v.name for v in CORPUS]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 60
    assert len(set(NAMES)) == len(CORPUS)


def physical_lines(variant: Variant) -> list[str]:
    """The file's lines as text, each decoded on its own (UTF-8, else the variant's encoding)."""
    data = variant.data
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = data.decode("utf-16").encode("utf-8")
    out = []
    for raw in re.split(rb"\r\n|\n|\r", data):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(raw.decode(variant.encoding if variant.encoding != "utf-8" else "latin-1", errors="replace"))
    return out


def independent_count(variant: Variant, path: Path) -> int | None:
    """Data records counted by the csv module / openpyxl / pyarrow (blank records excluded)."""
    if not variant.csv_countable or variant.refused:
        return None
    if path.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        sheet = book[variant.options.get("sheet", book.sheetnames[0])]
        rows = [r for r in sheet.iter_rows(values_only=True) if any(c is not None and str(c).strip() for c in r)]
        book.close()
        return len(rows) - 1
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    text = "\n".join(physical_lines(variant))
    delimiter = {".tsv": "\t", ".txt": "\t"}.get(path.suffix) or max(",;|", key=lambda d: text[:2000].count(d))
    csv.field_size_limit(1 << 30)
    records = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(f.strip() for f in r)]
    return len(records) - 1


def unneutralised(value: str) -> str:
    if value.startswith(NEUTRALISER) and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def check_rejects(variant: Variant, rejects: pd.DataFrame, path: Path) -> set[int]:
    lines = physical_lines(variant) if path.suffix not in (".xlsx", ".parquet") else None
    rejected = set(rejects["line"].astype(int))
    for rec in rejects.itertuples(index=False):
        value = unneutralised(str(rec.value))
        if not value or lines is None:
            continue
        where = "\n".join(lines[int(rec.line) - 1 : int(rec.line) + 3])
        assert value.strip() in where, f"{variant.name}: line {rec.line} does not hold the reported value"
    assert variant.faulty_lines <= rejected, f"{variant.name}: faulty lines not rejected"
    return rejected


def check_kept(variant: Variant, kept_keys: list[str], rejected: set[int]) -> None:
    expected = [variant.keys[line] for line in sorted(variant.keys) if line not in rejected]
    assert None not in expected, f"{variant.name}: an unknowable line was not rejected"
    assert sorted(k.strip() for k in map(unneutralised, kept_keys)) == sorted(str(k).strip() for k in expected), (
        f"{variant.name}: the clean rows are not the unrejected records"
    )


@pytest.mark.parametrize("variant", CORPUS, ids=NAMES)
def test_validate_keeps_every_row_and_no_key_reaches_the_console(variant: Variant, tmp_path: Path) -> None:
    path = tmp_path / variant.filename
    path.write_bytes(variant.data)
    counted = independent_count(variant, path)
    if counted is not None:
        assert counted == variant.rows, f"{variant.name}: the construction and the csv module disagree"
    options = [x for k, v in variant.options.items() for x in (f"--{k}", v)]
    result = CliRunner().invoke(
        app, ["validate", str(path), "--table", "clinical", "--out", str(tmp_path / "out"), *options]
    )
    output = result.output
    assert result.exit_code in (0, 1, 3), f"{variant.name}: exit {result.exit_code}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{variant.name}: {type(result.exception).__name__}"
    )
    assert "Traceback" not in output
    flat = output.replace("\n", "")
    assert not [k for k in BASE["patient_id"] if k in flat], f"{variant.name}: a patient key on the console"
    assert max(len(m) for m in re.findall(r"value '([^']*)'", output) or [""]) <= 40
    if variant.refused:
        assert result.exit_code == 3, f"{variant.name}: not refused"
        assert path.name in output.replace("\n", "")
    else:
        assert result.exit_code in (0, 1), f"{variant.name}: refused: {output[-400:]}"
    clean_file, rejects_file = tmp_path / "out" / "clinical.clean.csv", tmp_path / "out" / "clinical.rejects.csv"
    if not rejects_file.exists():
        assert variant.refused and variant.rows == 0 or result.exit_code == 3
        return
    clean = pd.read_csv(clean_file, dtype=str, keep_default_na=False)
    rejects = pd.read_csv(rejects_file, dtype=str, keep_default_na=False)
    rejected = check_rejects(variant, rejects, path)
    assert len(clean) + len(rejected) == variant.rows, f"{variant.name}: rows lost"
    if result.exit_code == 3:  # refused: every data line it has is in the rejects file
        assert len(clean) == 0
        return
    check_kept(variant, clean["patient_id"].tolist(), rejected)
    for key, (column, text) in variant.values.items():
        assert clean.loc[clean["patient_id"] == key, column].tolist() == [text], f"{variant.name}: {column} changed"


@pytest.mark.parametrize("variant", CORPUS, ids=NAMES)
def test_score_keeps_every_row(variant: Variant, scoring_model, tmp_path: Path) -> None:
    path = tmp_path / variant.filename
    path.write_bytes(variant.data)
    try:
        summary = score_export(
            [scoring_model], path, tmp_path / "scores.csv", chunk_size=7, explain=False, band=False, **variant.options
        )
    except ExportReadError as exc:
        assert variant.score_refuses, f"{variant.name}: refused by score: {exc}"
        assert not (tmp_path / "scores.csv").exists()
        return
    assert not variant.score_refuses, f"{variant.name}: not refused by score"
    assert summary.invariant_holds and summary.rows_in == variant.rows, f"{variant.name}: rows lost"
    scores = pd.read_csv(tmp_path / "scores.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(tmp_path / "scores.rejects.csv", dtype=str, keep_default_na=False)
    rejected = check_rejects(variant, rejects, path)
    assert len(scores) + len(rejected) == variant.rows
    assert set(scores["line"].astype(int)).isdisjoint(rejected)
    check_kept(variant, scores["patient_id"].tolist(), rejected)
