"""Importers: past experiments a team already has -> journal entries (`PastRun`) and insights.

* `import_optuna(storage, study_name)` — an Optuna study (any storage URL Optuna accepts).
* `import_table(path)` — a CSV (header row) or JSONL file of runs; column rules below.
* `import_mlflow(experiment_names)` — MLflow runs; needs `pip install mlflow` (not a dependency).

Each returns an `ImportResult` (runs + insights + warnings); `import_into` then records an
'imported' campaign in the SQL journal and adds the insights to the Chroma memory.

Column rules for CSV/JSONL (docs/memory.md has examples): `run_id`/`id`/`run`/`trial`/`number`
name the run; `status`/`state` (complete, finished, succeeded, ok ... count as complete);
`seconds`/`cost_seconds`/`trainer_seconds`/`train_seconds`/`duration_s`/`runtime_s` give the
cost; metric columns are the known metric names (`val_ne`, `val_logloss`, `val_auc`, `ne`,
`logloss`, `auc`, `loss`, `val_loss`, `val_calibration`, `test_*` of those, `value`,
`objective`) or any column prefixed `metrics_`, `metrics.`, `metric_`, `metric.`, `user_attrs_`;
every other column is a parameter. JSONL objects may instead nest `config`/`params`/`metrics`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rea.trainers.errors import ConfigError, DataError

from .import_journal import import_into as import_into
from .insights import InsightSource
from .past_runs import (
    METRIC_DIRECTIONS,
    OBJECTIVE_PRIORITY,
    ImportResult,
    PastRun,
    build_result,
    normalise_params,
)

# Columns read as metrics (calibration has no "better" direction: 1.0 is ideal).
METRIC_NAMES = {*METRIC_DIRECTIONS, "val_calibration", "calibration", "value", "objective"}
METRIC_PREFIXES = ("metrics_", "metrics.", "metric_", "metric.", "user_attrs_")
RUN_ID_COLUMNS = ("run_id", "id", "run", "trial", "number")
STATUS_COLUMNS = ("status", "state")
SECONDS_COLUMNS = (
    "seconds",
    "cost_seconds",
    "trainer_seconds",
    "train_seconds",
    "duration_s",
    "runtime_s",
)
# Bookkeeping columns (Optuna's trials_dataframe, MLflow exports): neither params nor metrics.
IGNORED_COLUMNS = {
    "datetime_start", "datetime_complete", "duration", "start_time", "end_time", "timestamp",
    "date", "created_at", "run_name", "name", "notes", "user", "host",
}  # fmt: skip
COMPLETE = {"", "complete", "completed", "finished", "succeeded", "success", "ok", "done"}


# --- CSV / JSONL ------------------------------------------------------------------------------
def parse_cell(text: str) -> Any:
    """A CSV cell as a JSON-ish value: numbers, true/false, null/None, [lists]; else the string.

    Lower-case `none` stays a string: it is a value of several config keys (`norm`, ...)."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if t in ("null", "None"):
        return None
    try:
        return json.loads(t)
    except ValueError:
        return t


def _metric_name(column: str) -> str | None:
    for prefix in METRIC_PREFIXES:
        if column.startswith(prefix):
            return column[len(prefix) :]
    known = column.removeprefix("test_") in METRIC_NAMES
    return column if known else None


def run_from_record(
    record: dict[str, Any], index: int, source: InsightSource
) -> tuple[PastRun, list[str]]:
    """One flat record (CSV row, JSONL object) -> a PastRun. Nested `config`/`params`/`metrics`
    objects (JSONL) are read as such; flat keys are classified by the column rules."""
    raw_params = dict(record.get("config") or {}) | dict(record.get("params") or {})
    metrics: dict[str, float] = {}
    for name, value in (record.get("metrics") or {}).items():
        metrics[name] = _number(value)
    run_id, status, seconds = str(index), "complete", 0.0
    for col, value in record.items():
        if col in ("config", "params", "metrics") or col in IGNORED_COLUMNS or value in ("", None):
            continue
        if col in RUN_ID_COLUMNS:
            run_id = str(value)
        elif col in STATUS_COLUMNS:
            status = "complete" if str(value).lower() in COMPLETE else str(value).lower()
        elif col in SECONDS_COLUMNS:
            seconds = _number(value)
        elif (name := _metric_name(col)) is not None:
            metrics[name] = _number(value)
        else:
            raw_params[col] = value
    config, params, warnings = normalise_params(raw_params, run_id)
    metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
    run = PastRun(
        run_id=run_id,
        source=source,
        config=config,
        params=params,
        metrics=metrics,
        seconds=seconds if math.isfinite(seconds) else 0.0,
        status=status,
    )
    return run, warnings


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _read_records(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{n}: not a JSON object ({err.msg})") from None
        return records
    with path.open(newline="") as fh:
        return [
            {k: parse_cell(v) if v else "" for k, v in row.items() if k is not None}
            for row in csv.DictReader(fh)
        ]


def import_table(
    path: str | Path,
    *,
    metric: str | None = None,
    direction: str | None = None,
    model: str | None = None,
    dataset: dict[str, Any] | None = None,
) -> ImportResult:
    """Runs from a CSV (header row) or JSONL (`.jsonl`) file; see docs/memory.md for columns."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file of past runs: {path}")
    runs, warnings = [], []
    for i, record in enumerate(_read_records(path)):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {i + 1} is not an object")
        run, warns = run_from_record(record, i, "import:csv")
        runs.append(run)
        warnings += warns
    if not runs:
        raise DataError(f"{path} holds no runs")
    return build_result(
        runs,
        source="import:csv",
        study=path.name,
        study_key=str(path.resolve()),
        metric=metric,
        direction=direction,
        model=model,
        dataset=dataset,
        warnings=warnings,
    )


# --- Optuna -----------------------------------------------------------------------------------
def import_optuna(
    storage: str,
    study_name: str,
    *,
    metric: str | None = None,
    model: str | None = None,
    dataset: dict[str, Any] | None = None,
) -> ImportResult:
    """The trials of an Optuna study. Objective values are named by `study.metric_names`
    (else `value`, `value_1`, ...); numeric user attributes become metrics too. The study's
    direction applies to its own objective names; known metric names keep their direction."""
    import optuna

    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).is_file():
        raise DataError(f"no Optuna database at {storage}")
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise ConfigError(
            f"no Optuna study {study_name!r} in that storage; it holds: {names}"
        ) from None
    names = list(study.metric_names or [])
    if len(names) != len(study.directions):
        names = (
            ["value"]
            if len(study.directions) == 1
            else [f"value_{i}" for i in range(len(study.directions))]
        )
    minimise = {
        n: d == optuna.study.StudyDirection.MINIMIZE
        for n, d in zip(names, study.directions, strict=True)
    }
    runs, warnings = [], []
    for trial in study.get_trials(deepcopy=False):
        run, warns = _optuna_run(trial, names)
        runs.append(run)
        warnings += warns
    if not runs:
        raise DataError(f"Optuna study {study_name!r} has no trials")
    metric = metric or _first_objective(names)
    # The study's own direction is authoritative for its objectives; other metrics use theirs.
    direction = ("minimize" if minimise[metric] else "maximize") if metric in minimise else None
    return build_result(
        runs,
        source="import:optuna",
        study=study_name,
        study_key=f"{storage}|{study_name}",
        metric=metric,
        direction=direction,
        model=model,
        dataset=dataset,
        warnings=warnings,
    )


def _first_objective(names: list[str]) -> str:
    return next((n for n in OBJECTIVE_PRIORITY if n in names), names[0])


def _optuna_run(trial: Any, names: list[str]) -> tuple[PastRun, list[str]]:
    metrics = {k: float(v) for k, v in trial.user_attrs.items() if _is_real(v)}
    metrics |= dict(zip(names, trial.values or [], strict=False))
    seconds = trial.user_attrs.get("trainer_seconds") or trial.user_attrs.get("seconds")
    if not _is_real(seconds):
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
    state = trial.state.name.lower()
    config, params, warnings = normalise_params(dict(trial.params), str(trial.number))
    run = PastRun(
        run_id=str(trial.number),
        source="import:optuna",
        config=config,
        params=params,
        metrics=metrics,
        seconds=float(seconds),
        status=state,
    )
    return run, warnings


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# --- MLflow -----------------------------------------------------------------------------------
def import_mlflow(
    experiment_names: Sequence[str],
    *,
    tracking_uri: str | None = None,
    metric: str | None = None,
    direction: str | None = None,
    model: str | None = None,
    dataset: dict[str, Any] | None = None,
    max_runs: int = 10_000,
) -> ImportResult:
    """Runs of MLflow experiments (params are strings, parsed like CSV cells)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(
            "importing MLflow runs needs the mlflow package, which REA does not install: "
            "`pip install mlflow`, or export the runs to CSV and use import_table"
        ) from None
    client = MlflowClient(tracking_uri=tracking_uri)
    ids = []
    for name in experiment_names:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise ConfigError(
                f"no MLflow experiment named {name!r} at {tracking_uri or 'the default tracking URI'}"
            )
        ids.append(exp.experiment_id)
    runs, warnings = runs_from_mlflow(client.search_runs(ids, max_results=max_runs))
    study = ",".join(experiment_names)
    return build_result(
        runs,
        source="import:mlflow",
        study=study,
        study_key=f"{tracking_uri}|{study}",
        metric=metric,
        direction=direction,
        model=model,
        dataset=dataset,
        warnings=warnings,
    )


def runs_from_mlflow(mlflow_runs: Sequence[Any]) -> tuple[list[PastRun], list[str]]:
    """MLflow `Run` objects (`info.run_id/status/start_time/end_time`, `data.params/metrics`)."""
    runs, warnings = [], []
    for r in mlflow_runs:
        raw = {k: parse_cell(v) for k, v in r.data.params.items()}
        config, params, warns = normalise_params(raw, r.info.run_id)
        ms = (r.info.end_time or 0) - (r.info.start_time or 0)
        status = (
            "complete" if str(r.info.status).lower() in COMPLETE else str(r.info.status).lower()
        )
        runs.append(
            PastRun(
                run_id=r.info.run_id,
                source="import:mlflow",
                config=config,
                params=params,
                metrics={k: float(v) for k, v in r.data.metrics.items() if _is_real(v)},
                seconds=max(ms, 0) / 1000.0,
                status=status,
            )
        )
        warnings += warns
    return runs, warnings
