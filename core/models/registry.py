"""Name -> model class table, so configs can name a model and new ones plug in with a decorator."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from core.errors import ConfigError

_MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_MODELS[name].__name__}")
        _MODELS[name] = cls
        return cls
    return deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_class(name: str) -> type[nn.Module]:
    if name not in _MODELS:
        raise ConfigError(f"model: unknown model {name!r}; available: {', '.join(list_models()) or 'none'}")
    return _MODELS[name]


def model_arg_names(name: str) -> set[str]:
    """Constructor arguments a config may set (used to reject misspelt ``model_args`` early)."""
    params = inspect.signature(model_class(name).__init__).parameters
    return {p for p in params if p != "self" and params[p].kind not in (params[p].VAR_POSITIONAL, params[p].VAR_KEYWORD)}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    allowed = model_arg_names(name)
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ConfigError(f"model_args: unknown argument(s) {unknown} for model {name!r}; "
                          f"accepted: {sorted(allowed)}")
    return model_class(name)(**kwargs)
