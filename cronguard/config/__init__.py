"""cronguard configuration: typed models and the YAML loader."""

from cronguard.config.loader import (
    DEFAULT_CONFIG_DIR,
    ConfigError,
    ConfigProblem,
    known_environments,
    load_environment,
)
from cronguard.config.model import Concurrency, Environment, Job

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "Concurrency",
    "ConfigError",
    "ConfigProblem",
    "Environment",
    "Job",
    "known_environments",
    "load_environment",
]
