"""Facade (re-export only): the results index and repair as documented in docs/sweeps.md and
docs/reliability.md (``implicit_bias.index.load``, ``load_metrics``, ``damaged``, ``repair``).

They live in :mod:`implicit_bias.catalog.index` and :mod:`implicit_bias.maintenance.repair`;
nothing inside the package imports this module."""

from implicit_bias.catalog.index import damaged, load, load_metrics, refresh  # noqa: F401
from implicit_bias.maintenance.repair import recover_config, repair  # noqa: F401

__all__ = ["damaged", "load", "load_metrics", "recover_config", "refresh", "repair"]
