"""Gait recognition models, looked up by name through the registry."""

from core.models.registry import build_model, list_models, register_model
from core.models import gaitbase as _gaitbase  # noqa: F401  (registers "gaitbase")
from core.models import gaitset as _gaitset  # noqa: F401  (registers "gaitset")
from core.models import gaitgl as _gaitgl  # noqa: F401  (registers "gaitgl")
from core.models import deepgaitv2 as _deepgaitv2  # noqa: F401  (registers "deepgaitv2")
from core.models import skeletongait as _skeletongait  # noqa: F401  (registers "skeletongait++")
from core.models import plain as _plain  # noqa: F401  (registers "gaitbase-plain")
from core.models import gaitpart as _gaitpart  # noqa: F401  (registers "gaitpart")
from core.models import gln as _gln  # noqa: F401  (registers "gln")
from core.models import gaitgraph2 as _gaitgraph2  # noqa: F401  (registers "gaitgraph2")
from core.models import gaittr as _gaittr  # noqa: F401  (registers "gaittr")
from core.models import swingait as _swingait  # noqa: F401  (registers "swingait")
from core.models import parsinggait as _parsinggait  # noqa: F401  (registers "parsinggait")

__all__ = ["build_model", "list_models", "register_model"]
