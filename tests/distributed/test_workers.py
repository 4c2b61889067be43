"""Distributed tuning on PostgreSQL: worker processes sharing studies, a killed worker, the trainer joining.

The workers run as real processes (``python -m spineoutcome.distributed worker``) against a real
PostgreSQL server; one is killed with SIGKILL in the middle of a trial.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from typer.testing import CliRunner

from spineoutcome.api import run_pipeline
from spineoutcome.config import load_pipeline
from spineoutcome.distributed import command, prepare_storage, run_worker, tuning_plan
from spineoutcome.modeling import TunedClassifier
from spineoutcome.outcomes import load_outcome_definitions

from .conftest import REPO, tiny_pipeline

BUDGET_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
# The grace period must exceed any stall of a healthy worker: on a loaded 2-core machine a heartbeat
# thread was seen starved for 5 s, so 10 s (production default: 120 s).
HEARTBEAT, GRACE = 1, 10


def worker_command(pipeline: Path, data: Path, storage: str, seed: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "spineoutcome.distributed",
        "worker",
        str(pipeline),
        "--data",
        str(data),
        "--optuna-storage",
        storage,
        "--sampler-seed",
        str(seed),
        *extra,
    ]


def only_study(storage: str) -> list[FrozenTrial]:
    names = optuna.get_all_study_names(storage)
    if not names:
        return []
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=storage).get_trials(deepcopy=False)


def wait_for(condition, what: str, procs: list[subprocess.Popen], timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = [proc for proc in procs if proc.poll() is not None]
        value = condition()  # checked after the exit test, so a last change before an exit is seen
        if value:
            return value
        if exited:
            pytest.fail(
                f"worker exited with {exited[0].returncode} while waiting for {what}:\n{exited[0].stderr.read()}"
            )
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def heartbeat_ages(storage: str) -> dict[int, float]:
    """Seconds since the last heartbeat of each running trial, by trial number (Optuna's own table)."""
    rows = _query(
        storage,
        "SELECT t.number, EXTRACT(EPOCH FROM (LOCALTIMESTAMP - h.heartbeat)) FROM trials t "
        "JOIN trial_heartbeats h ON h.trial_id = t.trial_id WHERE t.state = 'RUNNING'",
    )
    return {int(number): float(age) for number, age in rows}


def open_transactions(storage: str) -> int:
    """Other sessions on this study's database that are inside a transaction or running a statement."""
    ((count,),) = _query(
        storage,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction', "
        "'idle in transaction (aborted)')",
    )
    return int(count)


def _query(storage: str, sql: str) -> list:
    engine = sqlalchemy.create_engine(storage)
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text(sql)).all()
    engine.dispose()
    return rows


def test_two_workers_one_killed_mid_trial_still_finish_the_budget(new_database, cohort_dir, tmp_path) -> None:
    """Two worker processes on one study; SIGKILL one while it runs a trial. The heartbeat marks that
    trial FAIL after the grace period, the survivor runs it again with the parameters it had drawn, and the
    study ends with exactly its budget of complete + pruned trials and nothing left running.

    Timing is made deterministic with SIGSTOP: the victim is frozen first, and its trial is the running
    trial whose heartbeat stops; the survivor is held while that trial goes stale (as a slow worker
    would be), so the remaining budget cannot run out before the stale trial is found.
    """
    budget = 150  # trials take ~0.2 s: finding the frozen trial (up to ~20 s) must not use up the budget
    storage = new_database("kill")
    pipeline = tiny_pipeline(tmp_path, families=["xgboost"], tuning={"n_trials": budget, "inner_folds": 3})
    init = subprocess.run(
        [sys.executable, "-m", "spineoutcome.distributed", "optuna-init", storage],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    extra = ("--family", "xgboost", "--fit", "final", "--heartbeat", str(HEARTBEAT), "--grace-period", str(GRACE))
    report = tmp_path / "survivor.json"
    survivor = subprocess.Popen(
        worker_command(pipeline, cohort_dir, storage, 11, *extra, "--json", str(report)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    victim = subprocess.Popen(
        worker_command(pipeline, cohort_dir, storage, 22, *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    procs = [survivor, victim]
    try:

        def both_busy() -> list[FrozenTrial] | None:
            trials = only_study(storage)
            busy = (
                sum(t.state in BUDGET_STATES for t in trials) >= 2
                and sum(t.state == TrialState.RUNNING for t in trials) == 2
            )
            return trials if busy else None

        trials = wait_for(both_busy, "both workers running a trial", procs)
        done = sum(t.state in BUDGET_STATES for t in trials)
        assert done <= budget - 120, f"one worker started so late that {done} of {budget} trials were done"

        def freeze_victim() -> int | None:
            """Freeze the victim; its trial is the one running at the freeze whose heartbeat then stops.
            None when the victim was between trials, or before its trial's first heartbeat (Optuna never
            fails a trial without heartbeat)."""
            os.kill(victim.pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            running = {t.number for t in only_study(storage) if t.state == TrialState.RUNNING}
            first = heartbeat_ages(storage)
            seen.append(f"frozen: running {sorted(running)}, heartbeat ages {first}")
            while time.monotonic() - frozen_at < 60:
                time.sleep(0.2)
                for proc, role in ((survivor, "survivor"), (victim, "victim")):
                    if proc.poll() is not None:
                        pytest.fail(f"the {role} exited early ({proc.returncode}):\n{proc.stderr.read()}")
                waited = time.monotonic() - frozen_at
                if waited < 2.5 * HEARTBEAT:
                    continue
                states = {t.number: t.state for t in only_study(storage)}
                ages = heartbeat_ages(storage)
                still = [n for n in running if states.get(n) == TrialState.RUNNING]
                if any(n not in ages for n in still):
                    seen.append(f"{waited:.1f} s: running {still} without heartbeat")
                    return None
                stopped = [n for n in still if n in first and ages[n] >= first[n] + 2.5 * HEARTBEAT]
                if len(stopped) == 1:
                    return stopped[0]
                if not stopped and waited > 4 * HEARTBEAT:
                    seen.append(f"{waited:.1f} s: no stopped heartbeat; running {still}, ages {ages}")
                    return None
            pytest.fail("could not tell the frozen victim's trial from the survivor's")

        killed_trial, seen = None, []
        for _ in range(5):
            killed_trial = freeze_victim()
            if killed_trial is not None:
                break
            os.kill(victim.pid, signal.SIGCONT)
            time.sleep(0.5)
        assert killed_trial is not None, "never froze the victim in the middle of a trial:\n" + "\n".join(seen)
        os.kill(survivor.pid, signal.SIGSTOP)
        wait_for(lambda: heartbeat_ages(storage).get(killed_trial, 0.0) > GRACE + HEARTBEAT, "a stale trial", [])
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        os.kill(survivor.pid, signal.SIGCONT)
        assert survivor.wait(timeout=300) == 0, survivor.stderr.read()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    trials = only_study(storage)
    by_number = {t.number: t for t in trials}
    assert by_number[killed_trial].state == TrialState.FAIL
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [killed_trial]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed_trial]
    assert len(retries) == 1, "the killed trial was not retried"
    # Optuna queues the retry with the parameters the killed trial had drawn; a trial killed while still
    # drawing them (one database write per parameter) leaves the rest to the sampler.
    assert retries[0].state in BUDGET_STATES and by_number[killed_trial].params.items() <= retries[0].params.items()
    assert sum(t.state in BUDGET_STATES for t in trials) == budget
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    summary = json.loads(report.read_text(encoding="utf-8"))["fits"]
    assert len(summary) == 1 and summary[0]["stage"] == "final" and summary[0]["n_failed"] == 1
    assert summary[0]["n_complete"] + summary[0]["n_pruned"] == budget and summary[0]["lost_trials"] == 0


def test_a_stalled_worker_whose_trial_was_failed_rejoins_the_study(new_database, cohort_dir, tmp_path) -> None:
    """A worker frozen past the grace period (a suspended VM) wakes up to find that its running trial was
    failed and queued again by another worker: it drops its result, rejoins, and the study finishes."""
    budget, grace = 8, 2
    storage = new_database("stall")
    prepare_storage(storage)
    pipeline = tiny_pipeline(tmp_path, families=["xgboost"], tuning={"n_trials": budget, "inner_folds": 3})
    report = tmp_path / "stalled.json"
    worker = subprocess.Popen(
        worker_command(
            pipeline,
            cohort_dir,
            storage,
            7,
            "--fit",
            "final",
            "--heartbeat",
            str(HEARTBEAT),
            "--grace-period",
            str(grace),
            "--json",
            str(report),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        stalled = None
        while stalled is None:
            wait_for(lambda: list(heartbeat_ages(storage)), "a running trial", [worker])
            os.kill(worker.pid, signal.SIGSTOP)
            running = [t.number for t in only_study(storage) if t.state == TrialState.RUNNING]
            # the only worker, so it is its trial; and frozen between transactions, or the row locks
            # it holds would block the other worker below (a real frozen VM would need the server's
            # idle_in_transaction_session_timeout)
            if running and running[0] in heartbeat_ages(storage) and not open_transactions(storage):
                stalled = running[0]
            else:
                os.kill(worker.pid, signal.SIGCONT)
        wait_for(lambda: heartbeat_ages(storage).get(stalled, 0.0) > grace + HEARTBEAT, "a stale trial", [])
        other = optuna.storages.RDBStorage(  # what any other worker does when it starts a trial
            storage,
            heartbeat_interval=HEARTBEAT,
            grace_period=grace,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
        (name,) = optuna.get_all_study_names(storage)
        optuna.storages.fail_stale_trials(optuna.load_study(study_name=name, storage=other))
        other.engine.dispose()
        os.kill(worker.pid, signal.SIGCONT)
        assert worker.wait(timeout=240) == 0, worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    trials = only_study(storage)
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [stalled]
    assert [t.state in BUDGET_STATES for t in trials if t.system_attrs.get("failed_trial") == stalled] == [True]
    assert sum(t.state in BUDGET_STATES for t in trials) == budget
    (record,) = json.loads(report.read_text(encoding="utf-8"))["fits"]
    assert record["lost_trials"] == 1 and record["n_complete"] + record["n_pruned"] == budget


def test_worker_tunes_the_trainers_studies(new_database, cohort, tmp_path) -> None:
    """A worker pre-tunes every study of a pipeline; train on the same storage then finds each study at
    its budget: it adds no study and no trial (so the worker's plan is exactly the trainer's fits)."""
    storage = new_database("plan")
    pipeline = tiny_pipeline(tmp_path)
    config = load_pipeline(pipeline, cohort.dictionary, outcomes=list(load_outcome_definitions()))
    task, plan = tuning_plan(config, cohort, storage=storage)
    assert {f.family for f in plan} == {"xgboost"}  # logistic regression has nothing to tune
    assert [f.stage for f in plan].count("cv") == 3 and [f.stage for f in plan].count("final") == 1
    assert [f.stage for f in plan].count("iecv") >= 2

    report = run_worker(config, cohort, storage, sampler_seed=5)
    assert [r["study_name"] for r in report.fits] == [f.study_name(task) for f in plan]
    assert all(r["n_complete"] + r["n_pruned"] == 3 and r["n_failed"] == 0 for r in report.fits)
    before = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}
    assert sorted(before) == sorted(f.study_name(task) for f in plan)

    result = run_pipeline(pipeline, cohort, optuna_storage=storage)
    after = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}
    assert after == before
    tuned = result.evidence.families["xgboost"].tuning
    assert {s["study_name"] for s in tuned} <= set(before)
    assert all(s["n_complete"] + s["n_pruned"] == 3 for s in tuned)
    assert all("***" in s["storage"] and "spineoutcome:spineoutcome@" not in s["storage"] for s in tuned)


def test_server_databases_get_heartbeat_and_retry_by_default(pg_url, tmp_path) -> None:
    kwargs = {"family": "elastic_net", "dictionary": None, "predictors": []}
    server = TunedClassifier(storage=pg_url, **kwargs)._rdb_storage()
    assert isinstance(server, optuna.storages.RDBStorage)
    assert server.get_heartbeat_interval() == 60 and server.grace_period is None
    callback = server.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback) and callback._max_retry == 3
    server.engine.dispose()
    sqlite = f"sqlite:///{tmp_path / 'optuna.db'}"
    for off in (
        TunedClassifier(storage=sqlite, **kwargs),
        TunedClassifier(storage=pg_url, heartbeat_interval=None, **kwargs),
    ):
        storage = off._rdb_storage()
        assert isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is None
        storage.engine.dispose()
    assert TunedClassifier(**kwargs)._rdb_storage() is None


def test_a_worker_holds_few_connections(new_database, cohort, tmp_path) -> None:
    """Each fit closes its storage's connections when it ends: a worker going through many studies keeps
    no pool per finished study (PostgreSQL's max_connections bounds how many workers can run)."""
    storage = new_database("conn")
    config = load_pipeline(tiny_pipeline(tmp_path), cohort.dictionary, outcomes=list(load_outcome_definitions()))
    database = sqlalchemy.engine.make_url(storage).database
    peak = 0

    def count(message: str, done: int, total: int) -> None:
        nonlocal peak
        admin = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
        with admin.connect() as connection:
            n = connection.execute(
                sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": database},
            ).scalar()
        admin.dispose()
        peak = max(peak, int(n))

    report = run_worker(config, cohort, storage, sampler_seed=3, heartbeat_interval=1, progress=count)
    assert len(report.fits) >= 6
    assert peak <= 2, f"{peak} connections open between studies"


def test_worker_reports_an_unreachable_storage_clearly(cohort_dir, tmp_path) -> None:
    pipeline = tiny_pipeline(tmp_path)
    url = "postgresql://someone:secret@127.0.0.1:1/optuna"
    result = CliRunner().invoke(
        command.app, ["worker", str(pipeline), "--data", str(cohort_dir), "--optuna-storage", url]
    )
    assert result.exit_code == command.EXIT_FILE_ERROR
    assert "cannot use the Optuna storage" in result.output and "secret" not in result.output
    unknown = CliRunner().invoke(
        command.app,
        [
            "worker",
            str(pipeline),
            "--data",
            str(cohort_dir),
            "--optuna-storage",
            "sqlite:///x.db",
            "--family",
            "svm",
            "--plan",
        ],
    )
    assert unknown.exit_code == command.EXIT_FILE_ERROR and "not in pipeline" in unknown.output


def test_a_path_tuned_family_has_no_study_for_workers(cohort, tmp_path) -> None:
    """The elastic net scores a fixed grid along its path (no Optuna study), so workers leave it out."""
    pipeline = tiny_pipeline(tmp_path, families=["logistic", "elastic_net", "xgboost"])
    config = load_pipeline(pipeline, cohort.dictionary, outcomes=list(load_outcome_definitions()))
    _, plan = tuning_plan(config, cohort, storage=None)
    assert {f.family for f in plan} == {"xgboost"} and plan
