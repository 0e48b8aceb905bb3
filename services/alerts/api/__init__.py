"""The alerts HTTP service: cases, alerts, chains, venue contact graphs, the live stream."""

from services.alerts.api.app import create_app

__all__ = ["create_app"]
