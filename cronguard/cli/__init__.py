"""The ``cronguard`` command line (``main``): one module per command group, each importing
``common``, operations and config, never each other."""

from cronguard.cli.main import app, main

__all__ = ["app", "main"]
