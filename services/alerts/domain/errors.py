"""Errors the alerts domain raises when its input cannot give a correct answer.

They are ``ValueError`` subclasses so that an edge (HTTP route, Kafka consumer) can turn any of
them into a 4xx or a dead-letter record with one ``except DomainError``, and never mistake them
for a bug in the service.
"""

from __future__ import annotations


class DomainError(ValueError):
    """Base class of every error the alerts domain raises on purpose."""


class InvalidCaseError(DomainError):
    """A case that rule 5 cannot give an infectious window for."""


class InvalidContactEdgeError(DomainError):
    """A contact edge that cannot be a time overlap between two different people."""


class SearchStateError(DomainError):
    """The layered exposure search was driven out of order (or given a bad depth)."""


class InconsistentAlertsError(DomainError):
    """A set of alerts that cannot belong to one case (diffs and transmission chains)."""
