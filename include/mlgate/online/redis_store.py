"""The online state in Redis: the store of real deployments (several service processes).

Same interface and encoding as ``mlgate.online.store.EmbeddedStore``; what differs:

- Keys live under a namespace (``mlgate:<pipeline>``): one hash per entity
  (``<ns>:history:<entity>``, field = the key's JSON text), one per dimension table, and a
  meta hash.
- ``apply`` is one Lua script, atomic in Redis: the histories are written only if each is
  still the one the caller read (compared by SHA-1). Another process that stored an event
  of the same entity in between makes it raise ``StateMoved``; the caller reads again and
  recomputes (``OnlineState.ingest``), so concurrent services never lose an event of a
  history nor store one twice (a replay is told from the histories read).
- A bootstrap is written under ``<ns>:building`` and renamed into place in one
  MULTI/EXEC (``swap_into``): services read the old state until the new one is whole.

Durability is Redis's: an acknowledged event is in Redis's memory; with ``appendonly yes``
and ``appendfsync always`` (docker-compose.yaml, the tests) it is on disk before the reply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from mlgate.config import PipelineConfig
from mlgate.online.bootstrap import Bootstrapped, bootstrap
from mlgate.online.store import StateMoved, key_text

APPLY = """
for i = 1, #KEYS do
  local now = redis.call('HGET', KEYS[i], ARGV[3 * i - 2])
  if (now and redis.sha1hex(now) or '') ~= ARGV[3 * i - 1] then return 0 end
end
for i = 1, #KEYS do redis.call('HSET', KEYS[i], ARGV[3 * i - 2], ARGV[3 * i]) end
return 1
"""
BATCH = 10_000  # commands per pipeline round trip in bulk loads


def namespace_of(pipeline: str) -> str:
    return f"mlgate:{pipeline}"


def _chunks(rows: Iterable) -> Iterable[list]:
    """``rows`` in lists of at most ``BATCH``."""
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _digest(data: bytes | None) -> str:
    return "" if data is None else hashlib.sha1(data, usedforsecurity=False).hexdigest()


class RedisStore:
    """The online state in Redis (see the module docstring)."""

    def __init__(self, url: str, *, namespace: str):
        import redis

        self.url, self.namespace = url, namespace
        self.db = redis.Redis.from_url(url, decode_responses=False)
        self.db.ping()  # a wrong address or password fails here, with Redis's message
        self._apply = self.db.register_script(APPLY)

    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def close(self) -> None:
        self.db.close()

    # --- reads -----------------------------------------------------------------------

    def histories(self, wanted: Iterable[tuple[str, object]]) -> dict[tuple[str, object], bytes]:
        wanted = list(wanted)
        if not wanted:
            return {}
        pipe = self.db.pipeline(transaction=False)
        for entity, key in wanted:
            pipe.hget(self._key("history", entity), key_text(key))
        found = pipe.execute()
        return {item: data for item, data in zip(wanted, found, strict=True) if data is not None}

    def dimensions(self, table: str, keys: list[object]) -> dict[object, bytes]:
        if not keys:
            return {}
        found = self.db.hmget(self._key("dimension", table), [key_text(k) for k in keys])
        return {k: data for k, data in zip(keys, found, strict=True) if data is not None}

    def meta(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.db.hgetall(self._key("meta")).items()}

    def _hashes(self, kind: str) -> list[bytes]:
        return list(self.db.scan_iter(match=self._key(kind, "*"), count=1000))

    def sizes(self) -> dict[str, int]:
        return {
            "history": sum(self.db.hlen(k) for k in self._hashes("history")),
            "dimension": sum(self.db.hlen(k) for k in self._hashes("dimension")),
        }

    def memory_bytes(self) -> int:
        """Bytes Redis uses for this namespace's keys (MEMORY USAGE, all samples)."""
        keys = [*self._hashes("history"), *self._hashes("dimension")]
        return sum(self.db.memory_usage(k, samples=0) or 0 for k in keys)

    # --- writes ----------------------------------------------------------------------

    def apply(
        self,
        histories: Mapping[tuple[str, object], bytes],
        *,
        read: Mapping[tuple[str, object], bytes | None] | None = None,
    ) -> None:
        """As ``EmbeddedStore.apply``, in one script; ``read``: each history as the caller
        read it (None: none); ``StateMoved``, and nothing written, when one changed since."""
        read = read or {}
        keys, args = [], []
        for (entity, key), data in histories.items():
            keys.append(self._key("history", entity))
            args += [key_text(key), _digest(read.get((entity, key))), data]
        if keys and self._apply(keys=keys, args=args) == 0:
            raise StateMoved("another service stored an event of these entities meanwhile")

    def load(
        self,
        *,
        histories: Iterable[tuple[str, object, bytes]] = (),
        dimensions: Iterable[tuple[str, object, bytes]] = (),
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Bulk writes of a bootstrap: many fields per HSET, ``BATCH`` at a time, pipelined."""
        pipe = self.db.pipeline(transaction=False)
        for kind, rows in (("history", histories), ("dimension", dimensions)):
            for chunk in _chunks(rows):
                by_hash: dict[str, dict[str, bytes]] = {}
                for name, key, data in chunk:
                    by_hash.setdefault(self._key(kind, name), {})[key_text(key)] = data
                for hash_key, fields in by_hash.items():
                    pipe.hset(hash_key, mapping=fields)
                pipe.execute()
        if meta:
            pipe.hset(self._key("meta"), mapping=dict(meta))
            pipe.execute()

    def _all_keys(self, namespace: str | None = None) -> list[bytes]:
        """Every key of a namespace's state (not of a namespace nested in it)."""
        ns = namespace or self.namespace
        keys = [
            k
            for kind in ("history", "dimension")
            for k in self.db.scan_iter(match=f"{ns}:{kind}:*", count=1000)
        ]
        keys += [k.encode() for k in (f"{ns}:meta",) if self.db.exists(k)]
        return keys

    def clear(self) -> None:
        keys = self._all_keys()
        for start in range(0, len(keys), BATCH):
            self.db.unlink(*keys[start : start + BATCH])

    def swap_into(self, namespace: str) -> None:
        """Move this namespace's state to ``namespace`` in one transaction (what was there
        goes): readers of ``namespace`` see the old state or the new one, never a mix."""
        ours = self._all_keys()
        theirs = self._all_keys(namespace)
        prefix = self.namespace.encode()
        pipe = self.db.pipeline(transaction=True)
        if theirs:
            pipe.unlink(*theirs)
        for key in ours:
            pipe.rename(key, namespace.encode() + key[len(prefix) :])
        pipe.execute()


def is_redis_url(location: str) -> bool:
    return location.startswith(("redis://", "rediss://", "unix://"))


def bootstrap_redis(
    cfg: PipelineConfig, url: str, as_of: datetime, *, progress: Callable[[str], None]
) -> Bootstrapped:
    """The state of ``cfg`` as of ``as_of`` in Redis, built under ``<ns>:building`` and
    swapped into ``<ns>`` whole (``RedisStore.swap_into``): services keep reading the old
    state until then."""
    namespace = namespace_of(cfg.name)
    building = RedisStore(url, namespace=f"{namespace}:building")
    try:
        built = bootstrap(cfg, building, as_of, progress=progress)
        building.swap_into(namespace)
    finally:
        building.close()
    return built


__all__ = ["RedisStore", "bootstrap_redis", "is_redis_url", "namespace_of"]
