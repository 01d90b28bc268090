"""How the handlers publish metrics.

``count``: one count with the environment's own dimensions (environment, service), which the
environment's alarms watch, and optionally the job's: a Lambda's ``Metrics`` object carries
the job dimension on every metric it flushes, so an environment-wide alarm would never match
those (CloudWatch matches a metric by all of its dimensions).

``log_invocation_metrics``: a handler's ``Metrics``, flushed at the end of each invocation
(Powertools' ``log_metrics``) and started afresh at the beginning of the next.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from lambdas.core import metrics_contract as names

Handler = Callable[[Any, Any], Any]


def log_invocation_metrics(metrics: Metrics) -> Callable[[Handler], Callable[..., Any]]:
    """``metrics.log_metrics``, with each invocation starting from no dimension, metric or
    metadata of an earlier one.

    Powertools (3.37, ``AmazonCloudWatchEMFProvider.flush_metrics``) clears what a ``Metrics``
    holds only when it has a metric to flush. An invocation that adds its dimensions and
    publishes no metric (the cleanup settling an execution its state machine already
    recorded, the guard refusing an invalid input) leaves them to the next invocation of the
    warm execution environment: the cleanup's next reconcile would publish ``RunsReconciled``
    with that job's dimension, a series of its own that a graph or alarm of the environment's
    ``RunsReconciled`` does not read (CloudWatch matches all of a metric's dimensions). Lambda
    runs one invocation at a time in an execution environment, so what is left at the start
    of one belongs to an earlier one.
    """

    def decorate(handler: Handler) -> Callable[..., Any]:
        @functools.wraps(handler)
        def afresh(event: Any, context: Any) -> Any:
            metrics.clear_metrics()
            return handler(event, context)

        return metrics.log_metrics(afresh)

    return decorate


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
