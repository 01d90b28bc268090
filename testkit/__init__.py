"""Helpers that tests/ and bench/ share: configs written to a folder, generated environments
of many jobs, and reading a synthesized assembly. Dev-only: not in the wheel, and it imports
nothing from tests/ (bench/ never does either)."""
