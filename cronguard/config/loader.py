"""Read the YAML config, merge shared job definitions with environment overrides, validate.

Every problem becomes a ``ConfigProblem`` that names the file, the job and the field, so
``cdk synth``, ``cronguard validate`` and the tests all print the same one-line messages.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from cronguard.config.model import (
    FORMS,
    PATTERN_MEANINGS,
    SHOWN_LIMIT,
    STATE_MACHINE_NAME_LIMIT,
    Environment,
    Job,
    format_duration,
    shown,
)
from cronguard.config.placement import PlacementError, lock_path, read_lock, write_lock
from lambdas.core.missed import LOOK_BACK_CAP, look_back, outlives_window

JOBS_FILE = "jobs.yaml"
ENVIRONMENTS_DIR = "environments"
# A config file's values after its aliases are expanded: far above any real config (250 jobs
# are about 5,000), far below what an alias bomb expands to.
MAX_VALUES = 100_000

Path_ = tuple[int | str, ...]  # where a value sits in a file: keys and list indexes


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    message: str
    job: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.job is not None:
            where.append(f"job '{_cut(self.job)}'")
        if self.field is not None:
            where.append(_cut(self.field))
        return ": ".join([*where, self.message])


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_LIMIT else f"{text[:SHOWN_LIMIT]}…"


class ConfigError(Exception):
    """Config that cannot be deployed; ``problems`` lists every finding, one per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a duplicated job name must be an error."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # `<<: *defaults`: merged keys may be overridden, not duplicated
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value such as a name, not a list or a mapping",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {shown(key)} appears twice (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    # Merged keys come first and the mapping's own keys after them, so its own win.
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


@dataclass
class _Document:
    """A config file's data, and the source text of every value YAML did not read as a
    string (``yes``, ``0123``), to say what YAML made of it."""

    data: dict[str, Any] = field(default_factory=dict)
    texts: dict[Path_, str] = field(default_factory=dict)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` stands for once every alias in it is expanded."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise yaml.constructor.ConstructorError(
            None, None, "an alias refers to a value that contains it", node.start_mark
        )
    open_nodes.add(id(node))
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes, open_nodes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, sizes, open_nodes)
            size += _expanded_size(value, sizes, open_nodes)
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    if size > MAX_VALUES:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"its aliases expand to more than {MAX_VALUES} values; refusing to read it",
            node.start_mark,
        )
    return size


def _non_strings(node: yaml.Node, at: Path_, texts: dict[Path_, str], depth: int = 0) -> None:
    if isinstance(node, yaml.ScalarNode):
        if node.tag != "tag:yaml.org,2002:str":
            texts[at] = node.value
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _non_strings(item, (*at, index), texts, depth + 1)
    elif isinstance(node, yaml.MappingNode) and depth < 4:  # deep enough for any field
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _non_strings(value, (*at, key.value), texts, depth + 1)


def _decode(raw: bytes, display: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(
            [
                ConfigProblem(
                    display,
                    f"line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x}); "
                    "save the file as UTF-8",
                )
            ]
        ) from None


def _read_yaml(path: Path, display: str) -> _Document:
    try:
        raw = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError([ConfigProblem(display, f"cannot read: {reason}")]) from None
    loader = _UniqueKeyLoader(_decode(raw, display))  # a SafeLoader subclass
    try:
        node = loader.get_single_node()
        if node is None:
            return _Document()
        _expanded_size(node, {}, set())
        data = loader.construct_document(node)
        texts: dict[Path_, str] = {}
        _non_strings(node, (), texts)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError([ConfigProblem(display, f"{line}invalid YAML: {reason}")]) from None
    except RecursionError:
        raise ConfigError([ConfigProblem(display, "invalid YAML: nested too deeply")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(display, "must be a mapping of keys to values")])
    return _Document(data, texts)


def known_environments(config_dir: Path) -> list[str]:
    return sorted(path.stem for path in (config_dir / ENVIRONMENTS_DIR).glob("*.yaml"))


EXTENSION_PREFIX = "x-"


def _is_extension(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(EXTENSION_PREFIX)


def display_path(path: Path) -> str:
    """The path as a person finds the file: relative to the working directory when it is
    below it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return os.path.normpath(absolute)


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
        candidates = [
            get_args(c)[0] if get_origin(c) is Annotated else c
            for c in getattr(annotation, "__args__", (annotation,))
        ]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            break
        current = nested[0]
    return current


def _message(error: Any, model: type[BaseModel], source: str | None = None) -> str:
    """One error in words. ``source`` is the value's text in the file when YAML read it as
    something other than a string."""
    kind = error["type"]
    loc = _location(error)
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(model, loc)
        allowed = _field_names(owner)
        if owner in (Job, Environment):  # their names are keys and file names
            allowed = [name for name in allowed if name != "name"]
        guess = difflib.get_close_matches(key, allowed, n=1) if len(key) < SHOWN_LIMIT else []
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        return f"unknown key; {hint}allowed: {', '.join(allowed)}"
    if kind == "missing":
        return "is required"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{shown(value)} is not allowed; use {expected}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        return f"{shown(value)} {PATTERN_MEANINGS.get(pattern, f'does not match {pattern}')}"
    if kind == "string_too_long":
        return f"is {len(value)} characters; at most {error['ctx']['max_length']} fit"
    if kind == "string_type" and isinstance(value, bool | int | float) and source is not None:
        what = "a boolean" if isinstance(value, bool) else "a number"
        return f"YAML read {source} as {what}; quote it to mean the text: '{source}'"
    text = str(error["msg"])
    return f"{text[0].lower()}{text[1:]} (got {shown(value)})"


def _location(error: Any) -> tuple[int | str, ...]:
    """Where the error is in the file: the keys and indexes, without the form pydantic
    validated (a key that takes a number or a mapping)."""
    return tuple(part for part in error["loc"] if part not in FORMS)


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _job_problems(
    name: str,
    definition: dict[str, Any],
    override_keys: set[str],
    files: tuple[str, str],
    texts: tuple[dict[Path_, str], dict[Path_, str]],
    *,
    env_only: bool,
) -> tuple[Job | None, list[ConfigProblem]]:
    """The job, or its problems; ``files`` and ``texts`` are the jobs file's and the
    environment file's."""
    jobs_file, env_file = files
    if "name" in definition:
        owner = env_file if env_only or "name" in override_keys else jobs_file
        message = "unknown key: a job's name is its key under jobs:, remove this"
        return None, [ConfigProblem(owner, message, job=name, field="name")]
    try:
        return Job.model_validate({**definition, "name": name}), []
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            loc = _location(detail)
            top = str(loc[0]) if loc else ""
            # A cpu/memory mismatch is owned by whichever file set either of the pair.
            owned_by_env = (
                env_only
                or top in override_keys
                or (top == "memory" and bool({"cpu", "memory"} & override_keys))
            )
            source = texts[owned_by_env].get(("jobs", name, *loc))
            problems.append(
                ConfigProblem(
                    env_file if owned_by_env else jobs_file,
                    _message(detail, Job, source),
                    job=name,
                    field=_path(loc) if loc and top != "name" else None,
                )
            )
        return None, problems


def _not_in_jobs_file(
    names: list[str], shared_names: list[str], jobs_file: str, env_file: str
) -> list[ConfigProblem]:
    """Problems for environment overrides of jobs the jobs file does not define (they are
    read as new jobs, and miss a schedule or an image); empty when none looks like one."""
    if not shared_names and names:
        listed = ", ".join(names)
        return [
            ConfigProblem(
                jobs_file,
                f"defines no jobs, but {env_file} overrides {listed}: define them here "
                "(is this the right file, or is it empty?)",
            )
        ]
    problems = []
    for name in names:
        guess = difflib.get_close_matches(name, shared_names, n=1)
        if guess:
            problems.append(
                ConfigProblem(
                    env_file,
                    f"not a job in {jobs_file}; did you mean '{guess[0]}'? (a job only this "
                    "environment has needs its own schedule and image)",
                    job=name,
                )
            )
    return problems


def _merge(shared: Any, override: Any) -> Any:
    """Overrides replace values; mappings merge key by key (so an env can change one field)."""
    if isinstance(shared, dict) and isinstance(override, dict):
        merged = dict(shared)
        for key, value in override.items():
            merged[key] = _merge(shared.get(key), value)
        return merged
    return override


def load_environment(name: str, config_dir: Path) -> Environment:
    """Load, merge and validate one environment, or raise ``ConfigError`` naming every problem."""
    known = known_environments(config_dir)
    env_path = config_dir / ENVIRONMENTS_DIR / f"{name}.yaml"
    if name not in known:
        listing = ", ".join(known) or "none"
        raise ConfigError(
            [
                ConfigProblem(
                    display_path(env_path),
                    f"unknown environment {shown(name)}; known environments: {listing}",
                )
            ]
        )
    jobs_path = config_dir / JOBS_FILE
    env_file = display_path(env_path)
    jobs_file = display_path(jobs_path)
    env_document = _read_yaml(env_path, env_file)
    shared_document = _read_yaml(jobs_path, jobs_file) if jobs_path.exists() else _Document()
    # Top-level `x-` keys only hold YAML anchors (`x-defaults: &defaults`), as in Compose.
    env_data, shared_data = (
        {key: value for key, value in document.data.items() if not _is_extension(key)}
        for document in (env_document, shared_document)
    )
    texts = (shared_document.texts, env_document.texts)

    problems: list[ConfigProblem] = []
    unexpected = set(shared_data) - {"jobs"}
    problems += [
        ConfigProblem(jobs_file, "unknown key; allowed: jobs", field=str(key))
        for key in sorted(unexpected, key=str)
    ]
    shared_jobs = shared_data.get("jobs") or {}
    overrides = env_data.pop("jobs", None) or {}
    for file, mapping in ((jobs_file, shared_jobs), (env_file, overrides)):
        if not isinstance(mapping, dict):
            problems.append(ConfigProblem(file, "must map job names to job settings", field="jobs"))
    if problems:
        raise ConfigError(problems)

    jobs: list[Job] = []
    unmatched: dict[str, list[ConfigProblem]] = {}  # env-only jobs missing required fields
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
        env_only = job_name not in shared_jobs
        job, job_problems = _job_problems(
            str(job_name),
            _merge(shared, override),
            set(override),
            (jobs_file, env_file),
            texts,
            env_only=env_only,
        )
        if env_only and any(problem.message == "is required" for problem in job_problems):
            unmatched[str(job_name)] = job_problems
        else:
            problems += job_problems
        if job is not None:
            jobs.append(job)
    explained = _not_in_jobs_file(
        list(unmatched), [str(key) for key in shared_jobs], jobs_file, env_file
    )
    explained_jobs = {problem.job for problem in explained}
    problems += explained
    if not (explained and explained_jobs == {None}):
        for job_name, job_problems in unmatched.items():
            if job_name not in explained_jobs:
                problems += job_problems

    environment: Environment | None = None
    if "name" in env_data:
        problems.append(
            ConfigProblem(
                env_file,
                "unknown key: the environment's name is its file name, remove this",
                field="name",
            )
        )
    try:
        environment = Environment.model_validate({**env_data, "name": name})
    except ValidationError as error:
        for detail in error.errors():
            loc = _location(detail)
            problems.append(
                ConfigProblem(
                    env_file,
                    _message(detail, Environment, env_document.texts.get(loc)),
                    field=_path(loc) if loc and loc[0] != "name" else None,
                )
            )

    if environment is not None:
        for job in jobs:
            problems += _cross_checks(environment, job, jobs_file, env_file, overrides)
            problems += _owner_checks(
                environment, job, jobs, env_file if job.name in overrides else jobs_file
            )
    problems += _rename_problems(jobs, jobs_file, env_file, overrides)
    if problems:
        raise ConfigError(problems)
    assert environment is not None
    environment = environment.model_copy(update={"jobs": tuple(jobs)})
    return _placed(environment, config_dir)


def _placed(environment: Environment, config_dir: Path) -> Environment:
    """The environment with the job stacks its lock file records; a lock file that would move
    a job, or more jobs than fit, is a problem."""
    lock_file = lock_path(config_dir, environment.name)
    recorded, lock_problems = read_lock(lock_file, environment.name)
    shown_file = display_path(lock_file)
    problems = [ConfigProblem(shown_file, p.message, job=p.job) for p in lock_problems]
    if problems:
        raise ConfigError(problems)
    environment = environment.with_recorded_stacks(recorded)
    try:
        environment.placement()
    except PlacementError as error:
        raise ConfigError([ConfigProblem(shown_file, str(error))]) from None
    return environment


def record_job_stacks(environment: Environment, config_dir: Path, *, strict: bool) -> str | None:
    """Bring the lock file up to date with config: place the new jobs, free the removed ones'
    places. Returns what was written, or None when it was up to date. ``strict`` (in CI)
    writes nothing: a lock file that does not match config is an error there."""
    placement = environment.placement()
    if not placement.changed:
        return None
    lock_file = lock_path(config_dir, environment.name)
    shown_file = display_path(lock_file)
    if strict:
        state = "is out of date" if lock_file.exists() else "is missing"
        raise ConfigError(
            [
                ConfigProblem(
                    shown_file,
                    f"{state} ({placement.summary(written=False)}): run `cronguard stacks "
                    f"assign --env {environment.name}` and commit it (synth writes it only "
                    "outside CI)",
                )
            ]
        )
    write_lock(lock_file, environment.name, placement.stacks)
    return f"{shown_file}: {placement.summary()}; commit it"


def _owner_checks(
    environment: Environment, job: Job, jobs: list[Job], file: str
) -> list[ConfigProblem]:
    """One topic per team: every job naming a team routes its alarms the same way as the
    first to name it (the environment's default owner first)."""
    if job.owner is None:
        return []
    named = [environment.owner, *(other.owner for other in jobs)]
    first = next(o for o in named if o is not None and o.team == job.owner.team)
    if first == job.owner:
        return []
    message = (
        f"team '{job.owner.team}' is given other email or topic_arn elsewhere: one team has "
        "one alarm topic, so give it the same settings everywhere"
    )
    return [ConfigProblem(file, message, job=job.name, field="owner")]


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
    if outlives_window(job.watched_schedule, environment.ledger.retention):
        window = look_back(environment.ledger.retention)
        problems.append(
            ConfigProblem(
                owner,
                f"{job.schedule} plus the grace ({format_duration(job.watched_schedule.grace)}) "
                f"is longer than the slot watch looks back ({format_duration(window)}: the "
                f"ledger retention, at most {format_duration(LOOK_BACK_CAP)}): once the last "
                "run's record has left that window, a run that never came could not be "
                "noticed; use a cron expression",
                job=job.name,
                field="schedule",
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


def _rename_problems(
    jobs: list[Job], jobs_file: str, env_file: str, overrides: dict[str, Any]
) -> list[ConfigProblem]:
    """A ``renamed_from`` names an old name that is gone from config, and only one job's."""
    problems = []
    names = {job.name for job in jobs}
    taken: dict[str, str] = {}
    for job in jobs:
        old = job.renamed_from
        if old is None:
            continue
        owner = env_file if job.name in overrides else jobs_file
        if old == job.name:
            message = f"'{old}' is the job's own name; name the job's name before the rename"
        elif old in names:
            message = (
                f"'{old}' is still a job here: a renamed job's old name is gone from config "
                "(remove that job, or this key)"
            )
        elif old in taken:
            message = f"'{old}' is already the renamed_from of job '{taken[old]}'"
        else:
            taken[old] = job.name
            continue
        problems.append(ConfigProblem(owner, message, job=job.name, field="renamed_from"))
    return problems
