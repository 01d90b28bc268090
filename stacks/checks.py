"""cdk-nag's AwsSolutions rules on every synth: ``add_compliance_checks(app)``.

One mechanism for every resource: cdk-nag's validation plugin (v3 Validations API) walks
the whole construct tree, the job stacks' included resources too, and fails the synth on any
finding not accepted, with a reason, next to its construct (``stacks/compliance.py``).
"""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks


def add_compliance_checks(app: App) -> None:
    """Findings fail the synth unless acknowledged on their construct, with a reason."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
