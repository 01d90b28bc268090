"""The read and write units the cost table and the status test count, by DynamoDB's rules."""

from __future__ import annotations

from testkit.capacity import item_read_units, item_size, query_read_units, write_units


def text(size: int) -> dict[str, dict[str, str]]:
    """An item of exactly ``size`` bytes: one attribute ``a`` (1 byte) and its value."""
    return {"a": {"S": "x" * (size - 1)}}


def test_an_items_size_is_its_names_and_values_bytes() -> None:
    assert item_size({"pk": {"S": "job#a"}, "sk": {"S": "lease"}}) == 2 + 5 + 2 + 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 3 bytes of digits + 1
    assert item_size({"l": {"L": [{"S": "ab"}]}}) == 1 + 3 + 1 + 2
    assert item_size(text(4096)) == 4096


def test_a_query_costs_its_items_together_a_batch_each_item_alone() -> None:
    assert query_read_units([]) == 0.5  # a Query reading nothing still costs
    assert query_read_units([text(2048), text(2048)]) == 0.5  # 4 KB together
    assert query_read_units([text(2048), text(2049)]) == 1.0
    assert query_read_units([text(100)], consistent=True) == 1.0
    assert item_read_units([text(100), text(100)]) == 1.0  # each rounded up to 4 KB


def test_a_write_costs_its_item_in_1_kb_blocks() -> None:
    assert write_units(text(1024)) == 1
    assert write_units(text(1025)) == 2
