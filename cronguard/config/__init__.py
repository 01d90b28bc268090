"""cronguard configuration: typed models and the YAML loader."""

from cronguard.config.loader import (
    ConfigError,
    ConfigProblem,
    known_environments,
    load_environment,
)
from cronguard.config.model import Concurrency, Environment, Job
from cronguard.config.project import ProjectNotFound, find_config_dir, project_config_dir

__all__ = [
    "Concurrency",
    "ConfigError",
    "ConfigProblem",
    "Environment",
    "Job",
    "ProjectNotFound",
    "find_config_dir",
    "known_environments",
    "load_environment",
    "project_config_dir",
]
