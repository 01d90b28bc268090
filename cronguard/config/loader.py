"""Read the YAML config, merge shared job definitions with environment overrides, validate.

Every problem becomes a ``ConfigProblem`` that names the file, the job and the field, so
``cdk synth``, ``cronguard validate`` and the tests all print the same one-line messages.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cronguard.config.model import (
    MAX_JOBS_PER_STACK,
    STATE_MACHINE_NAME_LIMIT,
    Environment,
    Job,
    format_duration,
)

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
JOBS_FILE = "jobs.yaml"
ENVIRONMENTS_DIR = "environments"


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    message: str
    job: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.job is not None:
            where.append(f"job '{self.job}'")
        if self.field is not None:
            where.append(self.field)
        return ": ".join([*where, self.message])


class ConfigError(Exception):
    """Config that cannot be deployed; ``problems`` lists every finding, one per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a duplicated job name must be an error."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _read_yaml(path: Path, display: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([ConfigProblem(display, f"cannot read: {error.strerror}")]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError([ConfigProblem(display, f"{line}invalid YAML: {reason}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(display, "must be a mapping of keys to values")])
    return data


def known_environments(config_dir: Path = DEFAULT_CONFIG_DIR) -> list[str]:
    return sorted(path.stem for path in (config_dir / ENVIRONMENTS_DIR).glob("*.yaml"))


def _display(path: Path, config_dir: Path) -> str:
    try:
        return str(path.relative_to(config_dir.parent))
    except ValueError:
        return str(path)


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model class that owns the last key in ``loc`` (for 'did you mean' hints)."""
    current = model
    for part in loc[:-1]:
        field = current.model_fields.get(str(part))
        if field is None:
            break
        annotation = field.annotation
        candidates = getattr(annotation, "__args__", (annotation,))
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            break
        current = nested[0]
    return current


def _message(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _field_names(_model_at(model, loc))
        if model is Job:
            allowed = [name for name in allowed if name != "name"]
        guess = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        return f"unknown key; {hint}allowed: {', '.join(allowed)}"
    if kind == "missing":
        return "is required"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{error['input']!r} is not allowed; use {expected}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} does not match {error['ctx']['pattern']}"
    text = str(error["msg"])
    return f"{text[0].lower()}{text[1:]} (got {error['input']!r})"


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _job_problems(
    name: str,
    definition: dict[str, Any],
    override_keys: set[str],
    jobs_file: str,
    env_file: str,
    *,
    env_only: bool,
) -> tuple[Job | None, list[ConfigProblem]]:
    try:
        return Job.model_validate({**definition, "name": name}), []
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            loc = tuple(detail["loc"])
            top = str(loc[0]) if loc else ""
            # A cpu/memory mismatch is owned by whichever file set either of the pair.
            owned_by_env = (
                env_only
                or top in override_keys
                or (top == "memory" and bool({"cpu", "memory"} & override_keys))
            )
            problems.append(
                ConfigProblem(
                    env_file if owned_by_env else jobs_file,
                    _message(detail, Job),
                    job=name,
                    field=_path(loc) if loc and top != "name" else None,
                )
            )
        return None, problems


def _merge(shared: Any, override: Any) -> Any:
    """Overrides replace values; mappings merge key by key (so an env can change one field)."""
    if isinstance(shared, dict) and isinstance(override, dict):
        merged = dict(shared)
        for key, value in override.items():
            merged[key] = _merge(shared.get(key), value)
        return merged
    return override


def load_environment(name: str, config_dir: Path = DEFAULT_CONFIG_DIR) -> Environment:
    """Load, merge and validate one environment, or raise ``ConfigError`` naming every problem."""
    known = known_environments(config_dir)
    env_path = config_dir / ENVIRONMENTS_DIR / f"{name}.yaml"
    if name not in known:
        listing = ", ".join(known) or "none"
        raise ConfigError(
            [
                ConfigProblem(
                    _display(env_path, config_dir),
                    f"unknown environment '{name}'; known environments: {listing}",
                )
            ]
        )
    jobs_path = config_dir / JOBS_FILE
    env_file = _display(env_path, config_dir)
    jobs_file = _display(jobs_path, config_dir)
    env_data = _read_yaml(env_path, env_file)
    shared_data = _read_yaml(jobs_path, jobs_file) if jobs_path.exists() else {}

    problems: list[ConfigProblem] = []
    unexpected = set(shared_data) - {"jobs"}
    problems += [
        ConfigProblem(jobs_file, "unknown key; allowed: jobs", field=key)
        for key in sorted(unexpected)
    ]
    shared_jobs = shared_data.get("jobs") or {}
    overrides = env_data.pop("jobs", None) or {}
    for file, mapping in ((jobs_file, shared_jobs), (env_file, overrides)):
        if not isinstance(mapping, dict):
            problems.append(ConfigProblem(file, "must map job names to job settings", field="jobs"))
    if problems:
        raise ConfigError(problems)

    jobs: list[Job] = []
    for job_name in [*shared_jobs, *(key for key in overrides if key not in shared_jobs)]:
        shared = shared_jobs.get(job_name) or {}
        override = overrides.get(job_name) or {}
        for file, part in ((jobs_file, shared), (env_file, override)):
            if not isinstance(part, dict):
                problems.append(
                    ConfigProblem(file, "must be a mapping of job settings", job=str(job_name))
                )
        if not isinstance(shared, dict) or not isinstance(override, dict):
            continue
        job, job_problems = _job_problems(
            str(job_name),
            _merge(shared, override),
            set(override),
            jobs_file,
            env_file,
            env_only=job_name not in shared_jobs,
        )
        problems += job_problems
        if job is not None:
            jobs.append(job)

    environment: Environment | None = None
    try:
        environment = Environment.model_validate({**env_data, "name": name})
    except ValidationError as error:
        for detail in error.errors():
            loc = tuple(detail["loc"])
            problems.append(
                ConfigProblem(
                    env_file,
                    _message(detail, Environment),
                    field=_path(loc) if loc and loc[0] != "name" else None,
                )
            )

    if environment is not None:
        for job in jobs:
            problems += _cross_checks(environment, job, jobs_file, env_file, overrides)
    if problems:
        raise ConfigError(problems)
    assert environment is not None
    environment = environment.model_copy(update={"jobs": tuple(jobs)})
    for index, members in environment.jobs_by_stack().items():
        if len(members) > MAX_JOBS_PER_STACK:
            names = ", ".join(job.name for job in members)
            problems.append(
                ConfigProblem(
                    env_file,
                    f"job stack {index} would hold {len(members)} jobs ({names}); at most "
                    f"{MAX_JOBS_PER_STACK} fit a CloudFormation stack: raise job_stacks "
                    f"(now {environment.job_stacks}; this moves jobs, see README)",
                    field="job_stacks",
                )
            )
    if problems:
        raise ConfigError(problems)
    return environment


def _cross_checks(
    environment: Environment,
    job: Job,
    jobs_file: str,
    env_file: str,
    overrides: dict[str, Any],
) -> list[ConfigProblem]:
    """Checks that need both the environment and the job."""
    problems = []
    owner = env_file if job.name in overrides else jobs_file
    machine = environment.state_machine_name(job)
    if len(machine) > STATE_MACHINE_NAME_LIMIT:
        problems.append(
            ConfigProblem(
                owner,
                f"state machine name '{machine}' would be {len(machine)} characters; "
                f"Step Functions allows {STATE_MACHINE_NAME_LIMIT}: shorten the job name",
                job=job.name,
            )
        )
    if job.starting_deadline is not None and job.starting_deadline > environment.ledger.retention:
        problems.append(
            ConfigProblem(
                owner,
                f"{format_duration(job.starting_deadline)} is longer than the ledger retention "
                f"({environment.ledger.retention_days}d): a late duplicate could run again",
                job=job.name,
                field="starting_deadline",
            )
        )
    if (
        job.starting_deadline is not None
        and job.flexible_window is not None
        and job.starting_deadline < job.flexible_window
    ):
        problems.append(
            ConfigProblem(
                owner,
                f"{format_duration(job.starting_deadline)} is shorter than the flexible_window "
                f"({format_duration(job.flexible_window)}): Scheduler may deliver any time in the "
                "window, and every delivery after the deadline would be skipped as late",
                job=job.name,
                field="starting_deadline",
            )
        )
    return problems
