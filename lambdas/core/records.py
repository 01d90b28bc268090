"""What the ledger holds for one job, as the guard reads it: the slot's record, the job's
lease and its pause record, read together as one ``Snapshot``.

``LedgerTable.read`` builds these from DynamoDB items; ``decide`` (the guard) judges them;
the conditional writes assert them. They live in the core because both sides use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lambdas.core.ledger_contract import Status
from lambdas.core.pause import Pause


@dataclass(frozen=True)
class SlotRecord:
    owner: str  # execution ARN that claimed the slot
    status: Status
    # Everything else the ledger read (its own encoding), kept when a forced run archives it.
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Lease:
    holder: str  # execution ARN running the job
    slot: str
    until: datetime  # after this the lease is void whatever the holder's state
    acquired: datetime | None = None


@dataclass(frozen=True)
class Predecessor:
    """What the ledger holds under a renamed job's old name (``renamed_from``): the same
    slot's record and the old name's lease."""

    name: str
    slot: SlotRecord | None
    lease: Lease | None


@dataclass(frozen=True)
class Snapshot:
    slot: SlotRecord | None
    lease: Lease | None
    pause: Pause = field(default_factory=Pause)  # the job's pause record (never paused)
    predecessor: Predecessor | None = None  # a renamed job's old name's (``renamed_from``)
