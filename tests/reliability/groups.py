"""What a consumer group looks like from outside: the partitions each member owns."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient


def group_assignment(admin: KafkaAdminClient, group: str, topic: str) -> list[set[int]] | None:
    """The ``topic`` partitions of each member of ``group``, or None while it rebalances."""
    described = admin.describe_groups([group]).get(group, {})
    if described.get("group_state") != "Stable":
        return None
    return [
        {p for tp in member["member_assignment"]["assigned_partitions"] if tp["topic"] == topic
         for p in tp["partitions"]}
        for member in described.get("members") or ()
    ]


def both_assigned(assignment: list[set[int]] | None) -> list[set[int]] | None:
    """``assignment`` if it gives two members a share of the partitions each."""
    return assignment if assignment and len(assignment) == 2 and all(assignment) else None
