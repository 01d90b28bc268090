"""cdk-nag's AwsSolutions rules on every synth, through its v3 Validations API."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks


def add_compliance_checks(app: App) -> None:
    """Findings fail the synth unless acknowledged next to the construct, with a reason."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
