"""Errors the tracer domain raises when its input cannot give a correct answer.

They are ``ValueError`` subclasses so that an edge (the Kafka consumer) can route any
of them to ``dead-letter`` with one ``except DomainError`` and never mistake them for a bug.
"""

from __future__ import annotations


class DomainError(ValueError):
    """Base class of every error the tracer domain raises on purpose."""


class InvalidScanError(DomainError):
    """A scan that rule 1 cannot read (unknown direction, wrong venue, non-integer time)."""


class InvalidRulesError(DomainError):
    """Venue parameters that cannot define visits and contacts (rules 2-3)."""
