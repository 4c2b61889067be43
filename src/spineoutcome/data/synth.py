"""Synthetic multi-centre cohort: the exports a hospital would send, plus a truth file.

``generate_cohort(out_dir, n, seed)`` writes one file per dictionary table (clinical, proms,
imaging, radiomics, landmarks, complications, neuro_exam, ct_followup) with the dictionary's
column names, and ``truth`` with each patient's exact outcome probabilities. The pipeline never
reads the truth file; benchmarks use it to measure the gap to the oracle. Every parameter is in
``data_dictionary/synthetic_cohort.yaml`` with its source; column names come from the dictionary.

Data-generating process (what drives what)
    centre -> case-mix (age, OPLL share, BMI, severity, approach preference) and a random
    intercept per outcome model; diagnosis -> sex, age, OPLL type -> ossified levels, thickness,
    length, C1-C3 involvement, double-layer sign; age/BMI -> diabetes, hypertension -> ASA;
    latent severity -> baseline JOA/mJOA, signs, T2 signal, symptom duration; latent pain ->
    NDI, pain scores, opioid use; lesion thickness / canal diameter -> occupying ratio; canal,
    lesion and C2-C7 lordosis -> K-line distance (K-line negative iff distance <= 0). Exports
    carry measurement error (angles SD 5 degrees, seed 003 lines 2565-2640); the surgeon chooses
    the approach on the measured images; outcomes depend on the true values.
    Known effects: K-line(-) x laminoplasty and occupying ratio >= 60 % x posterior surgery
    lower recovery; non-linear age (hinge at 70 for recovery, 75 for medical complications);
    C5 palsy from age, posterior approach/fusion, C1-C3 involvement, C4-5 foraminal stenosis,
    pre-operative deltoid weakness; CSF leak from double-layer sign x anterior approach;
    progression in younger patients, continuous/mixed types, after laminoplasty, and with a
    latent propensity that a few radiomics features partly reveal.
    Missingness is MAR (BMI by centre and age, symptom duration, no MRI, no segmentation,
    PROM visits missed by older and more impaired patients, loss to follow-up).

Outcome rules (``rules:`` in the parameter file; truth.csv has ``p_<outcome>`` for each)
    c5_palsy: on some side, at an examination on days 1-21, deltoid or biceps MMT at least one
      MRC grade below the pre-operative grade of that side, with myelopathy_worsened = no.
      Examinations on days 1, 3+/-1, 7+/-1, 14+/-2 (always recorded) and 90+/-10.
    complication_any: any complications row with day 0-90 (grade ignored).
    complication_neurological: a c5_palsy or neurological_deterioration row with day 0-90.
      Complication outcomes need last_followup_day >= 90.
    progression_24m: the CT nearest day 730 within +/-180 days; growth >= 2.0 mm in thickness
      or length versus the pre-operative CT (day <= 0). CT values lie on a 0.1 mm grid: compare
      with a tolerance (e.g. growth >= 2.0 - 1e-6), since 7.3 - 5.3 < 2.0 in floating point.
    mcid_mjoa_12m: mJOA(12m) - mJOA(baseline) >= 2 (Tetreault et al. 2015).
    mcid_ndi_12m: NDI(baseline) - NDI(12m) >= 7.5 (Carreon et al. 2010).
    joa_rr50_12m: Hirabayashi recovery rate 100 (JOA12m - JOA0) / (17 - JOA0) >= 50 %;
      undefined (p = nan) when the baseline JOA is 17.
      PROM outcomes use the rows with timepoint = baseline and 12m, the 12m visit's day within
      365 +/- 90, totals or the sum of the items.
    ``p`` is exact given adequate follow-up: PROM follow-ups are round(clip(baseline + change))
    with a normal change, so ceiling/floor effects are in closed form; CT growth and the CT
    day have exact discrete distributions (see :mod:`spineoutcome.data.synth_truth`).

Determinism: identical bytes for the same ``seed``, ``n`` and ``chunk_size``. Block b draws from
``SeedSequence([seed, b, crc32(name)])``, one stream per generated quantity; centre-level
parameters come from the seed alone. The tables written do not change each other's content.

New patients of the same world: ``first_patient`` (a multiple of ``chunk_size``) starts the cohort at
that patient, in block ``first_patient // chunk_size``. A cohort with ``first_patient`` at or after
another's end holds different patients (other keys, other random streams) from the same centres and
the same data-generating process: a development cohort and a test population
for benchmarks, e.g. ``n=2000`` and ``first_patient=10000, n=20000``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from spineoutcome.data import synth_followup as followup
from spineoutcome.data.synth_config import SynthConfig
from spineoutcome.data.synth_export import (
    Format,
    TableSink,
    check_boolean_words,
    numpy_dtype,
    patient_ids,
    table_columns,
)
from spineoutcome.data.synth_model import CohortModel, PatientBlock
from spineoutcome.data.synth_radiomics import radiomics
from spineoutcome.data.synth_truth import PROBABILITY_PREFIX, truth
from spineoutcome.dictionary import DataDictionary

TRUTH = "truth"
WIDE_FROM_STATE = ("clinical", "imaging")
TABLES = (*WIDE_FROM_STATE, "proms", "radiomics", "landmarks", "complications", "neuro_exam", "ct_followup", TRUTH)
DEFAULT_CHUNK = 10_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate_cohort`` wrote and the outcome rates it realised.

    ``prevalence``: the generator's own rule labels among patients with adequate follow-up
    (``adequate`` of them); ``mean_p``: the mean truth probability among the same patients.
    ``skipped``: tables not written, with the reason.
    """

    out_dir: Path
    n: int
    seed: int
    fmt: str
    files: dict[str, Path]
    rows: dict[str, int]
    prevalence: dict[str, float]
    mean_p: dict[str, float]
    adequate: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)


def _keypoint_synthesizer() -> Callable[..., pd.DataFrame]:
    """The imaging module's keypoint solver, imported only when landmarks are written."""
    from spineoutcome.imaging import synthesize_keypoints

    return synthesize_keypoints


def _selected(tables: Iterable[str] | None, dictionary: DataDictionary) -> tuple[list[str], dict[str, str]]:
    known = [t for t in TABLES if t == TRUTH or t in dictionary.tables]
    wanted = list(dict.fromkeys(known if tables is None else tables))
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"cannot generate tables {unknown}; choose from {known}")
    skipped: dict[str, str] = {}
    if "landmarks" in wanted:
        try:
            _keypoint_synthesizer()
        except ImportError as exc:
            if tables is not None:
                raise ImportError(f"landmarks need spineoutcome.imaging.synthesize_keypoints ({exc})") from exc
            wanted.remove("landmarks")
            skipped["landmarks"] = f"spineoutcome.imaging.synthesize_keypoints is not available ({exc})"
    return wanted, skipped


def generate_cohort(
    out_dir: str | Path,
    n: int,
    seed: int,
    *,
    dictionary: DataDictionary | None = None,
    config: str | Path | SynthConfig | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    fmt: Format = "csv",
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
    first_patient: int = 0,
) -> SynthSummary:
    """Write a synthetic cohort of ``n`` patients to ``out_dir`` (``<table>.csv`` or ``.parquet``).

    ``tables`` limits the files (dictionary table names and ``"truth"``; default all; landmarks
    are skipped when the keypoint synthesizer is unavailable). ``progress(done, n)`` is called
    after each block of ``chunk_size`` patients. ``first_patient`` (0-based, a multiple of
    ``chunk_size``) draws patients ``first_patient`` .. ``first_patient + n - 1`` of the world.
    """
    if n < 1 or chunk_size < 1:
        raise ValueError("n and chunk_size must be positive")
    if first_patient < 0 or first_patient % chunk_size:
        raise ValueError(
            f"first_patient must be a nonnegative multiple of chunk_size ({chunk_size}), "
            f"got {first_patient}: patients are generated in blocks of chunk_size"
        )
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    dictionary = dictionary or DataDictionary.load()
    check_boolean_words(dictionary)
    settings = config if isinstance(config, SynthConfig) else SynthConfig.load(dictionary, config)
    wanted, skipped = _selected(tables, dictionary)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = CohortModel(settings, dictionary, seed)
    writer = _CohortWriter(model, out, fmt, wanted)
    try:
        end = first_patient + n
        for start in range(first_patient, end, chunk_size):
            writer.write_block(model.patients(start // chunk_size, start, min(chunk_size, end - start)))
            if progress is not None:
                progress(min(start + chunk_size, end) - first_patient, n)
    finally:
        writer.close()
    return writer.summary(n, seed, skipped)


class _CohortWriter:
    """Generates the requested tables of each block and appends them to their files."""

    def __init__(self, model: CohortModel, out: Path, fmt: Format, tables: list[str]) -> None:
        self.model = model
        self.out = out
        self.fmt = fmt
        self.tables = tables
        self.sinks: dict[str, TableSink] = {}
        self.labels: dict[str, list[np.ndarray]] = {}
        self.probabilities: dict[str, list[np.ndarray]] = {}

    def write_block(self, block: PatientBlock) -> None:
        frames = self._frames(block)
        ids = patient_ids(block.start, block.n)
        for name in self.tables:
            frame = frames[name]
            if name not in self.sinks:
                self.sinks[name] = self._sink(name, frame)
            self.sinks[name].write(frame, ids)

    def _sink(self, name: str, frame: dict[str, np.ndarray]) -> TableSink:
        key = self.model.dictionary.key
        if name == TRUTH:
            columns = [(c, "string" if c == key else numpy_dtype(v)) for c, v in frame.items()]
        else:
            columns = table_columns(self.model.dictionary.table(name), frame)
        return TableSink(self.out / f"{name}.{self.fmt}", columns, key, self.fmt)

    def _frames(self, block: PatientBlock) -> dict[str, dict[str, np.ndarray]]:
        frames: dict[str, dict[str, np.ndarray]] = {}
        labels: dict[str, np.ndarray] = {}
        wanted = set(self.tables)
        exported = _exported_state(self.model, block) if wanted & set(WIDE_FROM_STATE) else {}
        for name in WIDE_FROM_STATE:
            if name in wanted:
                frames[name] = _wide(self.model, name, exported)
        if "proms" in wanted:
            frames["proms"], found = followup.proms(self.model, block)
            labels.update(found)
        if wanted & {"complications", "neuro_exam"}:
            events = followup.complication_events(self.model, block)
            if "complications" in wanted:
                frames["complications"], found = followup.complications(self.model, block, events)
                labels.update(found)
            if "neuro_exam" in wanted:
                frames["neuro_exam"] = followup.neuro_exams(self.model, block, events)
        if "ct_followup" in wanted:
            frames["ct_followup"], found = followup.ct_followup(self.model, block)
            labels.update(found)
        if "radiomics" in wanted:
            frames["radiomics"] = radiomics(self.model, block)
        if "landmarks" in wanted:
            frames["landmarks"] = _landmarks(self.model, block)
        if TRUTH in wanted or labels:
            frames[TRUTH] = truth(self.model, block)
            for outcome, label in labels.items():
                self.labels.setdefault(outcome, []).append(label)
                self.probabilities.setdefault(outcome, []).append(frames[TRUTH][PROBABILITY_PREFIX + outcome])
        return frames

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()

    def summary(self, n: int, seed: int, skipped: dict[str, str]) -> SynthSummary:
        prevalence, mean_p, adequate = {}, {}, {}
        for outcome, parts in self.labels.items():
            label = np.concatenate(parts)
            p = np.concatenate(self.probabilities[outcome])
            ok = ~np.isnan(label) & ~np.isnan(p)
            adequate[outcome] = int(ok.sum())
            prevalence[outcome] = float(label[ok].mean()) if ok.any() else float("nan")
            mean_p[outcome] = float(p[ok].mean()) if ok.any() else float("nan")
        return SynthSummary(
            out_dir=self.out,
            n=n,
            seed=seed,
            fmt=self.fmt,
            files={name: sink.path for name, sink in self.sinks.items()},
            rows={name: sink.rows for name, sink in self.sinks.items()},
            prevalence=prevalence,
            mean_p=mean_p,
            adequate=adequate,
            skipped=skipped,
        )


def _exported_state(model: CohortModel, block: PatientBlock) -> dict[str, np.ndarray]:
    """The patient state with the MAR missingness of the pre-operative exports applied."""
    exported = dict(block.state)
    exported[model.dictionary.key] = np.arange(block.n)
    for name, linear in model.config.missingness.items():
        missing = block.rng("missing:" + name).random(block.n) < expit(
            model.predictor(f"missingness.{name}", linear, block)
        )
        values = exported[name]
        if values.dtype.kind == "U":
            exported[name] = np.where(missing, "", values)
        else:
            exported[name] = np.where(missing, np.nan, values.astype(np.float64))
    return exported


def _wide(model: CohortModel, name: str, exported: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    table = model.dictionary.table(name)
    return {var.name: exported[var.name] for var in table.variables if var.name in exported}


def _landmarks(model: CohortModel, block: PatientBlock) -> dict[str, np.ndarray]:
    """Keypoints whose measured parameters equal the measured imaging values (up to pixel noise).

    The targets are the values before the imaging table's missingness: the radiograph exists even
    where a centre did not chart a value, so the keypoints let the pipeline measure it.
    """
    key = model.dictionary.key
    targets = {p: block.state[p] for p in model.config.landmark_parameters}
    parameters = pd.DataFrame({key: np.arange(block.n), **targets})
    points = _keypoint_synthesizer()(parameters, key, block.rng("landmarks"), model.config.landmark_noise_px)
    return {column: points[column].to_numpy() for column in points.columns}
