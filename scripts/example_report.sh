#!/usr/bin/env bash
# Re-render the committed example report (reports/example_c5_palsy.pdf) and its model card from a
# fresh run, with one command:
#
#   scripts/example_report.sh [WORK_DIR]      # WORK_DIR keeps the cohort and the run (default: a temp dir)
#
# Synthesizes the built-in cohort (2,000 patients, seed 7), trains pipelines/c5_palsy.yaml on it
# (no MLflow) and renders the TRIPOD+AI report from the run's Evidence. The pipeline is used as it is,
# plus the synthetic cohort's own data statement (data_source in data_dictionary/synthetic_cohort.yaml),
# so that the report and the model card say the data are synthetic. About 5-10 minutes on two cores.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"

spineoutcome synth --n 2000 --seed 7 --out "$work/synthetic"
python - "$root" "$work" <<'PY'
import json
import sys
from pathlib import Path

from spineoutcome.api import load_cohort
from spineoutcome.data.synth_config import SynthConfig

root, work = Path(sys.argv[1]), Path(sys.argv[2])
statement = SynthConfig.load(load_cohort(work / "synthetic").dictionary).data_statement(2000, 7)
pipeline = (root / "pipelines/c5_palsy.yaml").read_text()
(work / "c5_palsy.yaml").write_text(f"{pipeline.rstrip()}\ndata_source: {json.dumps(statement)}\n")
PY
rm -rf "$work/runs"
spineoutcome train "$work/c5_palsy.yaml" --data "$work/synthetic" --out "$work/runs" --no-mlflow --no-report --jobs "${JOBS:-2}"
run=$(find "$work/runs" -mindepth 1 -maxdepth 1 -type d -name 'c5_palsy-*' | head -n 1)
spineoutcome report "$run"
cp "$run/report.pdf" "$root/reports/example_c5_palsy.pdf"
cp "$run/model_card.json" "$root/reports/example_c5_palsy.model_card.json"
echo "Example report: $root/reports/example_c5_palsy.pdf (run folder: $run)"
