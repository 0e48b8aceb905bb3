"""Liveness and readiness, shared by both HTTP services (``services/core/http/health.py``)."""

from __future__ import annotations

from services.core.http.health import router

__all__ = ["router"]
