"""Taking a model to a new hospital: develop on one synthetic world, validate and update on another.

Scenario (issue 18): a model is developed and registered on the synthetic cohort of one seed (the
development hospitals); a second seed is the new site (other centre baseline risks and scanners).
For each pipeline:

1. ``spineoutcome evaluate`` on all of the site's patients (external validation);
2. ``spineoutcome update --part first`` with each method (auto, intercept, recalibration, refit);
3. ``spineoutcome evaluate --part second`` of every updated model (and of the original model): the
   held-out half of the site's patients, never used for the update.

Printed: O:E, calibration slope and AUC on the held-out half before and after each update method,
and the wall time of each command (each a fresh ``spineoutcome`` process, so import time is
included). Training uses the pipeline files with smaller budgets (see BUDGET) to keep the run short.

    python benchmarks/bench_transport.py --dev-n 2000 --site-n 4000 --pipelines c5_palsy mcid_mjoa_12m
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import Gates
from spineoutcome.data.synth import generate_cohort
from spineoutcome.tracking import log_run

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
BUDGET = {
    "tuning": {"n_trials": 4, "inner_folds": 3, "metric": "neg_log_loss"},
    "validation": {
        "folds": 3,
        "repeats": 1,
        "bootstrap": {"replicates": 20, "mode": "fixed_hyperparameters"},
        "internal_external": True,
    },
}
METHODS = ("auto", "intercept", "recalibration", "refit")


def run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def held_out(folder: Path) -> dict[str, float]:
    record = json.loads((folder / "validation_evidence.json").read_text())
    evaluation = record["evaluation"]
    return {
        "oe": evaluation["calibration"]["oe_ratio"]["value"],
        "slope": evaluation["calibration"]["slope"]["value"],
        "auc": evaluation["discrimination"]["auc"]["value"],
        "n": record["site"]["n"],
        "events": record["site"]["events"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-n", type=int, default=2000)
    parser.add_argument("--site-n", type=int, default=4000)
    parser.add_argument("--dev-seed", type=int, default=7)
    parser.add_argument("--site-seed", type=int, default=8)
    parser.add_argument("--pipelines", nargs="+", default=["c5_palsy", "mcid_mjoa_12m"])
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-transport-") as tmp:
        root = Path(tmp)
        store = f"sqlite:///{root / 'mlruns.db'}"
        generate_cohort(root / "development", n=args.dev_n, seed=args.dev_seed)
        generate_cohort(root / "site", n=args.site_n, seed=args.site_seed)
        cohort = load_cohort(root / "development")
        common = ["--tracking-uri", store, "--n-boot", str(args.n_boot), "--no-report"]
        for name in args.pipelines:
            spec = yaml.safe_load((PIPELINES / f"{name}.yaml").read_text()) | BUDGET
            pipeline = root / f"{name}.yaml"
            pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
            started = time.perf_counter()
            result = run_pipeline(pipeline, cohort)
            with contextlib.chdir(root):
                log_run(result, tracking_uri=store, gates=Gates(calibration_slope=(0.0, 10.0), max_ici=1.0))
            trained = time.perf_counter() - started
            model = f"models:/{name}@champion"
            seconds = {
                "evaluate (all site patients)": run(
                    [
                        "spineoutcome",
                        "evaluate",
                        "--model",
                        model,
                        "--data",
                        str(root / "site"),
                        "--out",
                        str(root / name / "all"),
                        "--no-mlflow",
                        *common,
                    ]
                )
            }
            seconds["evaluate (held-out half)"] = run(
                [
                    "spineoutcome",
                    "evaluate",
                    "--model",
                    model,
                    "--data",
                    str(root / "site"),
                    "--part",
                    "second",
                    "--out",
                    str(root / name / "original"),
                    "--no-mlflow",
                    *common,
                ]
            )
            rows = {"no update": held_out(root / name / "original")}
            chosen = {}
            for method in METHODS:
                out = root / name / f"update-{method}"
                seconds[f"update --method {method}"] = run(
                    [
                        "spineoutcome",
                        "update",
                        "--model",
                        model,
                        "--data",
                        str(root / "site"),
                        "--part",
                        "first",
                        "--method",
                        method,
                        "--alias",
                        f"site-{method}",
                        "--out",
                        str(out),
                        *common,
                    ]
                )
                update = json.loads((out / "update_evidence.json").read_text())
                chosen[method] = update["method"]
                if update["method"] == "none":
                    rows[f"{method} (chose none)"] = rows["no update"]
                    continue
                evaluated = root / name / f"evaluate-{method}"
                run(
                    [
                        "spineoutcome",
                        "evaluate",
                        "--model",
                        f"models:/{name}@site-{method}",
                        "--data",
                        str(root / "site"),
                        "--part",
                        "second",
                        "--out",
                        str(evaluated),
                        "--no-mlflow",
                        *common,
                    ]
                )
                rows[f"{method} ({update['method']})"] = held_out(evaluated)
            whole = held_out(root / name / "all")
            print(f"\n### {name}: family {result.evidence.best_family}, trained in {trained / 60:.1f} min")
            print(
                f"All site patients: n {whole['n']}, events {whole['events']}: O:E {whole['oe']:.2f}, "
                f"slope {whole['slope']:.2f}, AUC {whole['auc']:.3f}"
            )
            print("\n| update on the first half | O:E | slope | AUC | (held-out half: n, events) |")
            print("|---|---:|---:|---:|---|")
            for label, row in rows.items():
                print(
                    f"| {label} | {row['oe']:.2f} | {row['slope']:.2f} | {row['auc']:.3f} | "
                    f"{row['n']}, {row['events']} |"
                )
            print("\n| command | seconds |")
            print("|---|---:|")
            for label, value in seconds.items():
                print(f"| {label} | {value:.1f} |")


if __name__ == "__main__":
    main()
