"""The package's optional extras (``pyproject.toml``), and a one-line error when one is missing.

``cronguard simulate`` needs the ``simulate`` extra: the package ``cronguard_simulation`` (its
local engine is moto's Step Functions interpreter with shims and the JSONata evaluator) and
the Lambda runtime's own dependency (Powertools), because the simulation runs the real
handlers in-process. Every other command runs without it.
"""

from __future__ import annotations

import importlib

SIMULATE = "simulate"

PROVIDED_BY: dict[str, dict[str, str]] = {
    SIMULATE: {
        "moto": "moto",
        "jsonata": "jsonata-python",
        "aws_lambda_powertools": "aws-lambda-powertools",
    },
}
"""Each extra: the modules it provides -> the distribution providing each (the distributions
are the extra's in ``pyproject.toml``; tests/local/test_packaging.py checks they agree)."""


class MissingExtra(ImportError):
    """An optional extra the command needs is not installed."""


def require(extra: str) -> None:
    """Import each module ``extra`` provides, or raise ``MissingExtra`` naming the first
    missing distribution and how to install it."""
    for module, distribution in PROVIDED_BY[extra].items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            raise MissingExtra(
                f"cronguard {extra} needs the optional '{extra}' extra, and {distribution} is "
                f"not installed: pip install 'cronguard[{extra}]' (make setup installs it)",
                name=module,
            ) from error
