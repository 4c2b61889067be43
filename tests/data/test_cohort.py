"""Join audit on crafted cases: orphans, patients without a table, duplicates, missingness."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spineoutcome.data import load_tables
from spineoutcome.data.cohort import assemble_cohort

from .conftest import clinical_row, write_csv


def _imaging(pid: str, **kw: str) -> dict[str, str]:
    row = {
        "patient_id": pid,
        "k_line": "positive",
        "kline_min_distance_mm": "3.1",
        "occupying_ratio": "45",
        "opll_type": "mixed",
        "opll_max_thickness_mm": "5.5",
        "ossified_levels": "3",
        "c1_c3_involvement": "no",
        "double_layer_sign": "no",
        "t2_high_signal": "yes",
        "c2c7_angle": "12",
        "t1_slope": "25",
        "ts_cl": "13",
        "csva_mm": "20",
        "torg_pavlov_ratio": "0.7",
        "c45_foraminal_stenosis": "no",
    }
    row.update(kw)
    return row


def test_join_audit_counts_orphans_missing_tables_and_duplicates(tmp_path, dictionary):
    write_csv(
        tmp_path / "clinical.csv", [clinical_row("P1"), clinical_row("P2"), clinical_row("P3"), clinical_row("P3")]
    )
    write_csv(tmp_path / "imaging.csv", [_imaging("P1"), _imaging("P2", occupying_ratio=""), _imaging("X9")])
    loaded = load_tables(tmp_path, dictionary)
    cohort = assemble_cohort(loaded.tables, dictionary, reports=loaded.reports)

    assert len(cohort) == 2
    clinical = cohort.audit.table("clinical")
    assert clinical.duplicate_rows_rejected == 2 and clinical.patients == 2
    imaging = cohort.audit.table("imaging")
    assert (imaging.rows, imaging.patients, imaging.orphan_patients, imaging.orphan_rows, imaging.patients_without) == (
        3,
        2,
        1,
        1,
        0,
    )
    missing = cohort.audit.missingness.set_index("column")
    assert missing.loc["occupying_ratio", "n_missing"] == 1
    assert missing.loc["occupying_ratio", "fraction"] == 0.5
    assert cohort.wide.loc["P2", "k_line"] == "positive" and np.isnan(cohort.wide.loc["P2", "occupying_ratio"])
    assert "radiomics" in loaded.missing_tables


def test_patient_without_imaging_is_kept_with_missing_values(tmp_path, dictionary):
    write_csv(tmp_path / "clinical.csv", [clinical_row("P1"), clinical_row("P2")])
    write_csv(tmp_path / "imaging.csv", [_imaging("P1")])
    loaded = load_tables(tmp_path, dictionary)
    cohort = assemble_cohort(loaded.tables, dictionary, reports=loaded.reports)
    assert cohort.audit.table("imaging").patients_without == 1
    assert pd.isna(cohort.wide.loc["P2", "c2c7_angle"])


def test_prom_wide_totals_join_and_audit_is_json_safe(tmp_path, dictionary):
    import json

    write_csv(tmp_path / "clinical.csv", [clinical_row("P1"), clinical_row("P2")])
    loaded = load_tables(tmp_path, dictionary)
    prom_wide = pd.DataFrame({"joa_baseline": [11.0, 13.0]}, index=pd.Index(["P1", "Z"], name="patient_id"))
    cohort = assemble_cohort(loaded.tables, dictionary, prom_wide=prom_wide)
    assert cohort.wide.loc["P1", "joa_baseline"] == 11.0 and np.isnan(cohort.wide.loc["P2", "joa_baseline"])
    proms = cohort.audit.table("proms (wide totals)")
    assert (proms.orphan_patients, proms.patients_without) == (1, 1)
    text = json.dumps(cohort.audit.to_dict())
    assert "P1" not in text and "Z" not in text.replace("Zero", "")
