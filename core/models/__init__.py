"""Gait recognition models, looked up by name through the registry."""

from core.models.registry import build_model, list_models, register_model
from core.models import gaitbase as _gaitbase  # noqa: F401  (registers "gaitbase")

__all__ = ["build_model", "list_models", "register_model"]
