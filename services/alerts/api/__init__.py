"""The alerts HTTP service: a case's alerts and chain, venue contact graphs, the live alert stream."""

from services.alerts.api.app import create_app

__all__ = ["create_app"]
