"""Synthetic cohort generator: determinism, dictionary conformance, prevalences, truth calibration.

The outcome rules are re-implemented here from the exported files alone (pandas, independent of
the generator's code path), and the truth file's probabilities are checked against them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from spineoutcome.data import synth
from spineoutcome.data.synth import SynthSummary, generate_cohort
from spineoutcome.data.synth_config import SynthConfig, SynthConfigError
from spineoutcome.data.synth_model import CohortModel
from spineoutcome.dictionary import DataDictionary, builtin_dictionary_dir

N_LARGE = 20_000
TABLES = ["clinical", "proms", "imaging", "radiomics", "complications", "neuro_exam", "ct_followup", "truth"]


@pytest.fixture(scope="module")
def dd() -> DataDictionary:
    return DataDictionary.load()


@pytest.fixture(scope="module")
def config(dd: DataDictionary) -> SynthConfig:
    return SynthConfig.load(dd)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("small")
    return out, generate_cohort(out, 3_000, seed=5, chunk_size=1_000, tables=TABLES)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pd.DataFrame], SynthSummary]:
    out = tmp_path_factory.mktemp("large")
    summary = generate_cohort(out, N_LARGE, seed=11, tables=TABLES)
    return {t: pd.read_csv(out / f"{t}.csv", low_memory=False) for t in TABLES}, summary


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_bytes_and_another_seed_differs(small, tmp_path: Path) -> None:
    out, _ = small
    again = generate_cohort(tmp_path / "again", 3_000, seed=5, chunk_size=1_000, tables=TABLES)
    other = generate_cohort(tmp_path / "other", 3_000, seed=6, chunk_size=1_000, tables=["clinical", "proms"])
    for table, path in again.files.items():
        assert _digest(path) == _digest(out / f"{table}.csv"), table
    for table, path in other.files.items():
        assert _digest(path) != _digest(out / f"{table}.csv"), table


def test_first_patient_draws_the_same_worlds_later_patients(small, tmp_path: Path) -> None:
    out, _ = small
    later = generate_cohort(
        tmp_path, 1_000, seed=5, chunk_size=1_000, first_patient=2_000, tables=["clinical", "complications", "truth"]
    )
    for table in ("clinical", "complications", "truth"):
        whole = pd.read_csv(out / f"{table}.csv", low_memory=False)
        part = pd.read_csv(later.files[table], low_memory=False)
        key = whole.columns[0]
        tail = whole[whole[key].str[1:].astype(int) > 2_000].reset_index(drop=True)
        assert len(tail) > 0
        pd.testing.assert_frame_equal(part, tail, check_dtype=False)
    first = pd.read_csv(out / "clinical.csv", low_memory=False)
    assert pd.read_csv(later.files["clinical"]).iloc[:, 0].isin(first.iloc[:2_000, 0]).sum() == 0
    with pytest.raises(ValueError, match="multiple of chunk_size"):
        generate_cohort(tmp_path / "bad", 10, seed=5, chunk_size=1_000, first_patient=500)


def test_choice_of_tables_does_not_change_a_table(small, tmp_path: Path) -> None:
    out, _ = small
    alone = generate_cohort(tmp_path, 3_000, seed=5, chunk_size=1_000, tables=["imaging"])
    assert _digest(alone.files["imaging"]) == _digest(out / "imaging.csv")


def test_parquet_is_deterministic_and_matches_csv(small, tmp_path: Path) -> None:
    out, _ = small
    first = generate_cohort(tmp_path / "a", 3_000, seed=5, chunk_size=1_000, fmt="parquet", tables=["clinical"])
    second = generate_cohort(tmp_path / "b", 3_000, seed=5, chunk_size=1_000, fmt="parquet", tables=["clinical"])
    assert _digest(first.files["clinical"]) == _digest(second.files["clinical"])
    from_parquet = pq.read_table(first.files["clinical"]).to_pandas()
    from_csv = pd.read_csv(out / "clinical.csv")
    assert list(from_parquet.columns) == list(from_csv.columns)
    np.testing.assert_allclose(from_parquet["bmi"].astype(float), from_csv["bmi"], equal_nan=True)
    assert (from_parquet["diabetes"].map({True: "yes", False: "no"}) == from_csv["diabetes"]).all()


def test_summary_counts_rows_of_each_file(small) -> None:
    _, summary = small
    for table, path in summary.files.items():
        with path.open() as fh:
            assert sum(1 for _ in fh) - 1 == summary.rows[table], table
    assert summary.rows["clinical"] == summary.n == 3_000


# ------------------------------------------------------------------------- dictionary conformance


def _check_column(values: pd.Series, var, dd: DataDictionary, where: str) -> None:
    present = values[values != ""]
    if not var.nullable:
        assert len(present) == len(values), f"{where}: empty values in a non-nullable column"
    if var.dtype in ("float", "int"):
        numbers = present.astype(float)
        if var.dtype == "int":
            assert (numbers == np.round(numbers)).all(), f"{where}: non-integer"
        if var.range:
            assert numbers.between(*var.range).all(), f"{where}: outside {var.range}"
    elif var.dtype == "category":
        assert set(present) <= set(var.categories), f"{where}: {set(present) - set(var.categories)}"
    elif var.dtype == "bool":
        assert set(present) <= {"yes", "no"} and set(present) <= set(dd.true_values) | set(dd.false_values), where
    elif var.dtype == "date":
        assert pd.to_datetime(present, format="%Y-%m-%d").notna().all(), where


def test_every_exported_value_is_inside_the_dictionary(small, dd: DataDictionary) -> None:
    _, summary = small
    for table_name, path in summary.files.items():
        if table_name == "truth":
            continue
        table = dd.table(table_name)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert set(table.required) <= set(frame.columns), table_name
        for column in frame.columns:
            var = table.match(column)
            assert var is not None, f"{table_name}.{column} is not a dictionary variable or pattern"
            _check_column(frame[column], var, dd, f"{table_name}.{column}")
        if table.unique_key:
            assert frame[dd.key].is_unique, table_name
        if table.unique_together:
            assert not frame.duplicated(list(table.unique_together)).any(), table_name


def test_prom_values_inside_instrument_and_item_ranges(small, dd: DataDictionary) -> None:
    out, _ = small
    proms = pd.read_csv(out / "proms.csv", keep_default_na=False, dtype={"value": float, "item": str})
    for (inst, item), rows in proms.groupby(["instrument", "item"]):
        lo, hi = dd.instruments[inst].items[item] if item else dd.instruments[inst].range
        assert rows["value"].between(lo, hi).all(), (inst, item)
        if inst != "eq5d":
            assert (rows["value"] == np.round(rows["value"])).all(), inst


def test_item_level_centres_export_items_that_sum_to_a_valid_total(
    small, dd: DataDictionary, config: SynthConfig
) -> None:
    out, _ = small
    proms = pd.read_csv(out / "proms.csv", keep_default_na=False, dtype={"item": str})
    centre = pd.read_csv(out / "clinical.csv").set_index(dd.key)["centre"]
    proms["centre"] = proms[dd.key].map(centre)
    itemised = proms[proms["item"] != ""]
    assert not itemised.empty and set(itemised["centre"]) <= set(config.proms.item_level_centres)
    assert set(itemised["instrument"]) <= {c for c, i in dd.instruments.items() if i.items and i.item_scoring == "sum"}
    totals = itemised.groupby([dd.key, "instrument", "timepoint"]).agg(
        total=("value", "sum"), items=("item", "nunique")
    )
    for (_, inst, _), row in totals.iterrows():
        assert row["items"] == len(dd.instruments[inst].items)
        assert dd.instruments[inst].range[0] <= row["total"] <= dd.instruments[inst].range[1]
    others = proms[~proms["centre"].isin(config.proms.item_level_centres)]
    assert (others["item"] == "").all()


def test_kline_status_is_coherent_with_distance(large) -> None:
    frames, _ = large
    imaging, truth = frames["imaging"], frames["truth"]
    measured = imaging.dropna(subset=["kline_min_distance_mm"])
    assert ((measured["kline_min_distance_mm"] <= 0) == (measured["k_line"] == "negative")).all()
    assert ((truth["true_kline_min_distance_mm"] <= 0) == (truth["true_k_line"] == "negative")).all()
    assert imaging["kline_min_distance_mm"].isna().any() and imaging["k_line"].notna().all()


def test_invalid_parameter_file_names_the_unknown_variable(dd: DataDictionary, tmp_path: Path) -> None:
    text = (builtin_dictionary_dir() / "synthetic_cohort.yaml").read_text(encoding="utf-8")
    (tmp_path / "misspelt.yaml").write_text(text.replace("  - name: diabetes\n", "  - name: diabetis\n", 1))
    with pytest.raises(SynthConfigError, match="diabetis"):
        SynthConfig.load(dd, tmp_path / "misspelt.yaml")
    (tmp_path / "term.yaml").write_text(text.replace('"bmi - 25": 0.10', '"bmii - 25": 0.10', 1))
    with pytest.raises(SynthConfigError, match="bmii"):
        SynthConfig.load(dd, tmp_path / "term.yaml")


# ------------------------------------------------------------------ independent reference rules


def _reference_labels(frames: dict[str, pd.DataFrame], dd: DataDictionary, config: SynthConfig) -> pd.DataFrame:
    """Every outcome label from the exported files; NaN where follow-up is inadequate."""
    rules = config.rules
    clinical = frames["clinical"].set_index("patient_id")
    labels = pd.DataFrame(index=clinical.index)

    exams = frames["neuro_exam"].join(clinical, on="patient_id")
    lo, hi = rules.c5_window
    window = exams[exams["day"].between(lo, hi) & (exams["myelopathy_worsened"] == "no")]
    drop = np.zeros(len(window), bool)
    for muscle in ("deltoid", "biceps"):
        pre = np.where(window["side"] == "left", window[f"{muscle}_mmt_pre_left"], window[f"{muscle}_mmt_pre_right"])
        drop |= (pre - window[f"{muscle}_mmt"]).to_numpy() >= rules.c5_min_drop
    labels["c5_palsy"] = labels.index.isin(window.loc[drop, "patient_id"]).astype(float)

    comp = frames["complications"]
    for outcome, (first, last) in rules.complication_windows.items():
        types = rules.complication_types[outcome] or tuple(comp["complication_type"].unique())
        hits = comp[comp["day"].between(first, last) & comp["complication_type"].isin(types)]["patient_id"]
        label = labels.index.isin(hits).astype(float)
        labels[outcome] = np.where(clinical["last_followup_day"] >= last, label, np.nan)

    ct = frames["ct_followup"].sort_values(["patient_id", "day"])
    pre = ct[ct["day"] <= 0].groupby("patient_id").last()
    target = ct[(ct["day"] - rules.progression_target_day).abs() <= rules.progression_window_days].copy()
    target["distance"] = (target["day"] - rules.progression_target_day).abs()
    target = target.sort_values("distance").groupby("patient_id").first()
    grown = (
        target[["opll_thickness_mm", "opll_length_mm"]] - pre.loc[target.index, ["opll_thickness_mm", "opll_length_mm"]]
    )
    hit = (grown >= rules.progression_min_growth_mm - 1e-6).any(axis=1).astype(float)
    labels[rules.progression_outcome] = hit.reindex(labels.index)

    proms = frames["proms"]
    scores = proms.groupby(["patient_id", "instrument", "timepoint"]).agg(value=("value", "sum"), day=("day", "first"))
    for rule in rules.proms:
        inst = dd.instruments[rule.instrument]
        base = scores.xs((rule.instrument, "baseline"), level=("instrument", "timepoint"))["value"]
        follow = scores.xs((rule.instrument, rule.timepoint), level=("instrument", "timepoint"))
        nominal = dd.timepoints[rule.timepoint].day
        follow = follow[(follow["day"] - nominal).abs() <= rule.window_days]["value"]
        pre_score, post = base.reindex(labels.index), follow.reindex(labels.index)
        gain = (post - pre_score) if inst.higher_is_better else (pre_score - post)
        if rule.min_improvement is not None:
            label = (gain >= rule.min_improvement).astype(float)
        else:
            room = inst.range[1] - pre_score
            label = (100 * gain / room.where(room > 0) >= rule.min_recovery_rate).astype(float)
            label[room <= 0] = np.nan
        labels[rule.outcome] = label.where(pre_score.notna() & post.notna())
    return labels


@pytest.fixture(scope="module")
def checked(large, dd: DataDictionary, config: SynthConfig) -> pd.DataFrame:
    frames, _ = large
    labels = _reference_labels(frames, dd, config)
    truth = frames["truth"].set_index("patient_id")
    return labels.join(truth, rsuffix="_truth")


def test_prevalences_are_in_published_ranges(checked: pd.DataFrame, config: SynthConfig) -> None:
    bands = {
        "c5_palsy": (0.03, 0.08),  # DOMAIN.md: ~5 %
        "complication_any": (0.15, 0.25),
        "progression_24m": (0.20, 0.35),
        "mcid_mjoa_12m": (0.50, 0.70),
        "mcid_ndi_12m": (0.35, 0.65),
        "joa_rr50_12m": (0.35, 0.65),
        "complication_neurological": (0.04, 0.12),
    }
    assert set(bands) == set(config.rules.outcomes)
    for outcome, (lo, hi) in bands.items():
        assert lo <= checked[outcome].mean() <= hi, (outcome, checked[outcome].mean())


@pytest.mark.parametrize(
    "outcome",
    [
        "c5_palsy",
        "complication_any",
        "complication_neurological",
        "progression_24m",
        "mcid_mjoa_12m",
        "mcid_ndi_12m",
        "joa_rr50_12m",
    ],
)
def test_truth_probabilities_reproduce_reference_labels(checked: pd.DataFrame, outcome: str) -> None:
    both = checked[[outcome, f"p_{outcome}"]].dropna()
    label, p = both[outcome].to_numpy(), both[f"p_{outcome}"].to_numpy()
    assert len(both) > 5_000
    se = np.sqrt(np.sum(p * (1 - p))) / len(p)
    assert abs(label.mean() - p.mean()) < 3 * se, (label.mean(), p.mean(), se)
    groups = pd.qcut(p, 10, labels=False, duplicates="drop")
    observed = np.bincount(groups, weights=label)
    expected = np.bincount(groups, weights=p)
    variance = np.bincount(groups, weights=p * (1 - p))
    statistic = np.sum((observed - expected) ** 2 / variance)
    assert stats.chi2.sf(statistic, len(observed)) > 1e-3, (observed, expected)


def test_patients_without_adequate_follow_up_are_not_labelled(checked: pd.DataFrame) -> None:
    assert checked["p_progression_24m"].notna().sum() > checked["progression_24m"].notna().sum()
    assert checked.loc[checked["progression_24m"].notna(), "p_progression_24m"].notna().all()
    assert checked["p_joa_rr50_12m"].isna().any()


# --------------------------------------------------------------------------- centres and effects


def test_centres_differ_in_case_mix_and_baseline_risk(large, config: SynthConfig, dd: DataDictionary) -> None:
    frames, _ = large
    clinical = frames["clinical"]
    assert clinical["centre"].nunique() >= 5
    by_centre = clinical.groupby("centre")
    opll = by_centre["diagnosis"].apply(lambda d: (d == "OPLL").mean())
    assert opll.max() - opll.min() > 0.4
    assert by_centre["age"].mean().max() - by_centre["age"].mean().min() > 5
    approach = pd.crosstab(clinical["centre"], clinical["approach"])
    assert stats.chi2_contingency(approach).pvalue < 1e-10
    model = CohortModel(config, dd, seed=11)
    for comp in config.complications:
        intercepts = model.centre_offsets(f"complications.{comp.name}", comp.linear)
        assert np.ptp(intercepts) > 0.1, comp.name


def test_known_interactions_are_in_the_truth(large) -> None:
    frames, _ = large
    data = frames["clinical"].merge(frames["truth"], on="patient_id").merge(frames["imaging"], on="patient_id")
    lamino = data["approach"] == "laminoplasty"
    negative = data["true_k_line"] == "negative"
    assert (
        data.loc[lamino & negative, "p_mcid_mjoa_12m"].mean()
        < data.loc[lamino & ~negative, "p_mcid_mjoa_12m"].mean() - 0.1
    )
    anterior_opll = (data["approach"] == "anterior") & (data["diagnosis"] == "OPLL")
    dls = data["double_layer_sign"] == "yes"
    risk = data["p_complication_any"]
    assert risk[anterior_opll & dls].mean() > risk[anterior_opll & ~dls].mean() + 0.05
    opll = data[data["diagnosis"] == "OPLL"]
    young = opll["age"] < 55
    assert opll.loc[young, "p_progression_24m"].mean() > opll.loc[opll["age"] > 70, "p_progression_24m"].mean()


# ------------------------------------------------------------------- missingness and measurement


def test_missingness_depends_on_observed_variables(large) -> None:
    frames, _ = large
    clinical = frames["clinical"]
    bmi_missing = clinical["bmi"].isna()
    assert bmi_missing[clinical["age"] >= 75].mean() > 1.5 * bmi_missing[clinical["age"] < 55].mean()
    assert bmi_missing[clinical["centre"] == "CHN-A"].mean() > 3 * bmi_missing[clinical["centre"] != "CHN-A"].mean()
    proms = frames["proms"]
    followed = clinical[clinical["last_followup_day"] >= 1000].set_index("patient_id")
    seen = proms[(proms["instrument"] == "mjoa") & (proms["timepoint"] == "12m")]["patient_id"]
    lost = ~followed.index.isin(seen)
    old = (followed["age"] >= 72).to_numpy()
    assert lost[old].mean() > 1.3 * lost[~old].mean()
    radiomics = set(frames["radiomics"]["patient_id"])
    no_seg = ~clinical["patient_id"].isin(radiomics)
    assert no_seg[clinical["diagnosis"] == "DCM"].mean() > 1.5 * no_seg[clinical["diagnosis"] == "OPLL"].mean()


def test_exported_angles_carry_configured_measurement_error(large, config: SynthConfig) -> None:
    frames, _ = large
    data = frames["imaging"].merge(frames["truth"], on="patient_id")
    for column in ("c2c7_angle", "t1_slope", "csva_mm", "occupying_ratio"):
        error = data[column] - data[f"true_{column}"]
        sd = config.node(column).sd
        assert abs(error.mean()) < 0.05 * sd and abs(error.std() / sd - 1) < 0.05, column


def test_follow_up_timing_has_out_of_window_visits_and_late_events(large) -> None:
    frames, _ = large
    ct = frames["ct_followup"]
    assert (ct.groupby("patient_id")["day"].min() <= 0).all()
    near = ct[(ct["day"] > 450) & (ct["day"] < 1100)]
    assert ((near["day"] - 730).abs() > 180).any() and ((near["day"] - 730).abs() <= 180).any()
    proms = frames["proms"]
    twelve = proms[proms["timepoint"] == "12m"]
    assert ((twelve["day"] - 365).abs() > 90).any()
    assert (frames["complications"]["day"] > 90).any()


def test_mmt_drops_with_worse_myelopathy_are_not_palsies(large) -> None:
    frames, _ = large
    exams = frames["neuro_exam"].merge(frames["clinical"], on="patient_id")
    pre = np.where(exams["side"] == "left", exams["deltoid_mmt_pre_left"], exams["deltoid_mmt_pre_right"])
    dropped_worse = exams[(exams["deltoid_mmt"] < pre) & (exams["myelopathy_worsened"] == "yes")]["patient_id"]
    assert dropped_worse.nunique() > 10
    palsies = frames["complications"].query("complication_type == 'c5_palsy'")["patient_id"]
    assert not set(dropped_worse) & set(palsies)


def test_radiomics_are_pyradiomics_named_block_correlated_with_a_little_signal(large, dd: DataDictionary) -> None:
    frames, _ = large
    radiomics = frames["radiomics"].merge(frames["truth"], on="patient_id")
    features = [c for c in frames["radiomics"].columns if c != "patient_id"]
    assert len(features) >= 100 and all(dd.table("radiomics").match(c).regex for c in features)
    z = np.log(radiomics[features].clip(lower=1e-9)).where(radiomics[features] > 0, radiomics[features])
    corr = z.corr().to_numpy()
    same_block = corr[features.index("original_glcm_Contrast"), features.index("original_glcm_Autocorrelation")]
    other_block = corr[features.index("original_glcm_Contrast"), features.index("wavelet-LLH_glrlm_LongRunEmphasis")]
    assert same_block > 0.4 and abs(other_block) < 0.2
    propensity = radiomics["progression_propensity"]
    assert z["original_glcm_Contrast"].corr(propensity) > 0.15
    assert abs(z["original_glrlm_RunLengthNonUniformity"].corr(propensity)) < 0.05


# ----------------------------------------------------------------------------------- landmarks


def test_without_the_keypoint_synthesizer_landmarks_are_skipped_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable() -> None:
        raise ImportError("cannot import name 'synthesize_keypoints'")

    monkeypatch.setattr(synth, "_keypoint_synthesizer", unavailable)
    summary = generate_cohort(tmp_path, 50, seed=1)
    assert "landmarks" in summary.skipped and "landmarks" not in summary.files
    with pytest.raises(ImportError, match="synthesize_keypoints"):
        generate_cohort(tmp_path, 50, seed=1, tables=["landmarks"])


def test_landmarks_reproduce_the_imaging_table(tmp_path: Path, dd: DataDictionary) -> None:
    imaging_module = pytest.importorskip("spineoutcome.imaging")
    if not hasattr(imaging_module, "synthesize_keypoints"):
        pytest.skip("spineoutcome.imaging.synthesize_keypoints is not available")
    summary = generate_cohort(tmp_path, 200, seed=1, tables=["imaging", "landmarks"])
    landmarks = pd.read_csv(summary.files["landmarks"])
    assert list(landmarks.columns) == dd.table("landmarks").names
    assert landmarks["patient_id"].nunique() == 200
    measured = imaging_module.measure_parameters(landmarks, dd.key).parameters.set_index(dd.key)
    imaging = pd.read_csv(summary.files["imaging"]).set_index(dd.key)
    assert (measured["c2c7_angle"] - imaging["c2c7_angle"]).abs().median() < 2.0
    assert (measured["k_line"] == imaging["k_line"]).mean() > 0.95


def test_data_statement_names_this_cohorts_size_seed_and_centres(config: SynthConfig) -> None:
    text = config.data_statement(12345, 9)
    assert f"A synthetic cohort of 12,345 patients from {len(config.centres)} simulated centres" in text
    assert "(seed 9)" in text and "no real patients" in text and "\n" not in text
    broken = dataclasses.replace(config, data_source="a cohort of {patients} patients")
    with pytest.raises(SynthConfigError, match=r"data_source: only \{n\}, \{seed\} and \{centres\}"):
        broken.data_statement(10, 1)
