"""Which exit codes the simulation's failing and retried runs use, from the job's retry policy
as the guard reads it (``lambdas/guard/retry.py``): the failing run must fail for the reason
the scenario says (every attempt, or at once with a code that is not retried)."""

from __future__ import annotations

import pytest

from cronguard_simulation.scenario import FAILING_EXIT_CODE, failing_and_retried_exits
from lambdas.guard.retry import RetryPolicy


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # No job_retries: exit 3, one attempt, nothing to retry.
        (RetryPolicy(), (FAILING_EXIT_CODE, 1, None)),
        # A number: every exit code is retried, so the failing run fails on every attempt.
        (RetryPolicy(max=2), (FAILING_EXIT_CODE, 3, FAILING_EXIT_CODE)),
        # on_exit_codes: the failing run exits a code not listed; the retried one a listed one.
        (
            RetryPolicy(max=2, on_exit_codes=frozenset({137, 75})),
            (FAILING_EXIT_CODE, 1, 75),
        ),
        (
            RetryPolicy(max=1, on_exit_codes=frozenset({FAILING_EXIT_CODE})),
            (1, 1, FAILING_EXIT_CODE),
        ),
        # except_exit_codes: the failing run exits an excepted code; the retried one does not.
        (RetryPolicy(max=1, except_exit_codes=frozenset({2})), (2, 1, FAILING_EXIT_CODE)),
        (
            RetryPolicy(max=1, except_exit_codes=frozenset({FAILING_EXIT_CODE, 4})),
            (FAILING_EXIT_CODE, 1, 1),
        ),
    ],
)
def test_the_exit_codes_follow_the_policy(
    policy: RetryPolicy, expected: tuple[int, int, int | None]
) -> None:
    failing, attempts, retried = failing_and_retried_exits(policy)
    assert (failing, attempts, retried) == expected
    if retried is not None:
        assert policy.retries_exit_code(retried)
    if policy.max:
        assert policy.retries_exit_code(failing) == (attempts > 1)
