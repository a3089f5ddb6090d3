"""Where a pipeline's online state lives: a file (``EmbeddedStore``) or Redis
(``RedisStore``), chosen by the location's form (``mlgate.paths.online_state_location``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from mlgate.config import PipelineConfig
from mlgate.online.bootstrap import Bootstrapped, bootstrap_file
from mlgate.online.redis_store import RedisStore, bootstrap_redis, is_redis_url, namespace_of
from mlgate.online.store import EmbeddedStore


def describe(location: str) -> str:
    """The location without a password (it ends up in logs)."""
    if is_redis_url(location) and "@" in location:
        scheme, rest = location.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return location


def open_store(cfg: PipelineConfig, location: str) -> EmbeddedStore | RedisStore:
    """The store at ``location`` (``StoreInUse``: a file another process holds; Redis's
    own errors for a wrong address or password)."""
    if is_redis_url(location):
        return RedisStore(location, namespace=namespace_of(cfg.name))
    return EmbeddedStore(Path(location))


def bootstrap_into(
    cfg: PipelineConfig, location: str, as_of: datetime, *, progress: Callable[[str], None]
) -> Bootstrapped:
    """The state as of ``as_of`` at ``location``, replacing what was there whole."""
    if is_redis_url(location):
        return bootstrap_redis(cfg, location, as_of, progress=progress)
    return bootstrap_file(cfg, Path(location), as_of, progress=progress)


__all__ = ["bootstrap_into", "describe", "open_store"]
