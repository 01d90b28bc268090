"""DynamoDB's on-demand read and write units, computed from the items a call read or wrote.

Shared by the tests (``cronguard status`` stays under its read target) and the benchmark's
cost table. moto does not meter capacity, so the units follow DynamoDB's documented rules
("Item sizes and formats", "Read/write capacity mode"): an item's size is its attribute
names' and values' bytes; a Query costs its items' total size rounded up to 4 KB, a
BatchGetItem or GetItem each item's size rounded up to 4 KB, half of that eventually
consistent (0.5 read units at least per call or item); a write costs its item's size
rounded up to 1 KB (the larger of the item before and after).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

READ_BLOCK = 4096
WRITE_BLOCK = 1024


def value_size(value: Mapping[str, Any]) -> int:
    """The bytes of one attribute value in DynamoDB's low-level encoding."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(entry) for entry in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(entry) for name, entry in inner.items())
    if kind == "SS":
        return sum(len(entry.encode()) for entry in inner)
    raise ValueError(f"no size rule for DynamoDB type {kind}")


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def query_read_units(items: Iterable[Mapping[str, Any]], *, consistent: bool = False) -> float:
    """One Query's (or one page's) read units: its items' total size in 4 KB blocks."""
    blocks = max(1, math.ceil(sum(item_size(item) for item in items) / READ_BLOCK))
    return blocks * (1.0 if consistent else 0.5)


def item_read_units(items: Iterable[Mapping[str, Any]], *, consistent: bool = False) -> float:
    """GetItem or BatchGetItem: each item's size in 4 KB blocks."""
    per_block = 1.0 if consistent else 0.5
    return sum(max(1, math.ceil(item_size(item) / READ_BLOCK)) * per_block for item in items)


def write_units(item: Mapping[str, Any]) -> int:
    """PutItem or UpdateItem of ``item`` (its larger version): its size in 1 KB blocks."""
    return max(1, math.ceil(item_size(item) / WRITE_BLOCK))


class ReadMeter:
    """The read units of every Query and BatchGetItem made by the clients of the event
    emitters it is ``register``-ed on (a client's ``meta.events``, or a session's before it
    creates its clients), from the whole items read (a projection does not lower them):
    ``reader``, another client of the same table, fetches them. ``units`` and ``items`` add
    up what was read since ``clear``."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._params: dict[str, Any] = {}
        self.calls: list[tuple[str, float]] = []  # operation, its read units
        self.items = 0

    def register(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb.Query", self._remember)
        events.register("provide-client-params.dynamodb.BatchGetItem", self._remember)
        events.register("after-call.dynamodb.Query", self._query)
        events.register("after-call.dynamodb.BatchGetItem", self._batch)

    @property
    def units(self) -> float:
        return sum(units for _, units in self.calls)

    def clear(self) -> None:
        self.calls.clear()
        self.items = 0

    def _remember(self, params: dict[str, Any], **_: Any) -> None:
        self._params = params

    def _whole(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = self._reader.get_item(TableName=table, Key=key).get("Item", {})
        return item

    def _query(self, parsed: dict[str, Any], **_: Any) -> None:
        params = self._params
        names = params.get("ExpressionAttributeNames", {})
        condition = params["KeyConditionExpression"]
        key_names = {
            placeholder: names.get(placeholder, placeholder)
            for placeholder in condition.replace("(", " ").replace(",", " ").split()
            if placeholder.startswith("#")
        }
        # "#pk = :value": the partition key is the first name of the key condition.
        pk_name = next(iter(key_names.values()))
        pk_value = params["ExpressionAttributeValues"][condition.split("=")[1].split()[0]]
        sk_name = next((name for name in key_names.values() if name != pk_name), None)
        items = parsed.get("Items", [])
        whole = [
            self._whole(params["TableName"], {pk_name: pk_value, sk_name: item[sk_name]})
            if sk_name
            else item
            for item in items
        ]
        self.calls.append(("Query", query_read_units(whole)))
        self.items += len(items)

    def _batch(self, parsed: dict[str, Any], **_: Any) -> None:
        for table, items in parsed.get("Responses", {}).items():
            requested = self._params["RequestItems"][table]["Keys"]
            found = [item for key in requested if (item := self._whole(table, key))]
            self.calls.append(("BatchGetItem", item_read_units(found)))
            self.items += len(items)
