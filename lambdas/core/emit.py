"""One count with the environment's own dimensions (environment, service), which the
environment's alarms watch, and optionally the job's: a Lambda's ``Metrics`` object carries
the job dimension on every metric it flushes, so an environment-wide alarm would never match
those (CloudWatch matches a metric by all of its dimensions)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from lambdas.core import metrics_contract as names


def count(metric: str, environment: str, value: int = 1, *, job: str | None = None) -> None:
    """Publish ``value`` of ``metric`` now, with the environment's dimensions (and the job's)."""
    with single_metric(
        name=metric,
        unit=MetricUnit.Count,
        value=value,
        namespace=names.NAMESPACE,
        default_dimensions={
            names.ENVIRONMENT_DIMENSION: environment,
            names.SERVICE_DIMENSION: names.SERVICE,
        },
    ) as single:
        if job is not None:
            single.add_dimension(names.JOB_DIMENSION, job)
