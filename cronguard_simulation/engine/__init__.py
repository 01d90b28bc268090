"""A local AWS for running cronguard's real state machines in-process (moto 5.2.5 + shims).

    from cronguard_simulation.engine import LocalAws, TaskScript

    with LocalAws() as aws:
        guard = aws.register_lambda("guard", handler)
        ...
        execution = aws.start(machine, "20261122T0300Z", {"scheduledTime": "..."})
        aws.wait(execution)["status"]

See `harness.LocalAws` for the API and `shims` for every moto gap it closes. It is the
optional `simulate` extra of the package (`pip install 'cronguard[simulate]'`): importing it
without that raises `cronguard.extras.MissingExtra` (see `cronguard_simulation`), which says so.
"""

from cronguard_simulation.engine.ecs import THROTTLE, StartedTask, StopCause, TaskScript
from cronguard_simulation.engine.harness import (
    ACCOUNT_ID,
    LocalAws,
    Network,
    StatusChangeDeliveryError,
)
from cronguard_simulation.engine.lambdas import (
    LambdaContext,
    LambdaRuntimeCrash,
    LambdaServiceError,
)

__all__ = [
    "ACCOUNT_ID",
    "THROTTLE",
    "LambdaContext",
    "LambdaRuntimeCrash",
    "LambdaServiceError",
    "LocalAws",
    "Network",
    "StartedTask",
    "StatusChangeDeliveryError",
    "StopCause",
    "TaskScript",
]
