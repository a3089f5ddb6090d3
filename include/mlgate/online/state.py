"""The online state of a pipeline: an event's features from the store, and its update.

``OnlineState.ingest(event)`` joins the raw event with its dimensions as of its time (as
``mlgate.ml.features.join_dimensions`` does in Spark), computes its features from its
entities' earlier events (``mlgate.online.features``), and stores the event in their
histories, counted once by its key: an event whose key one of its histories holds already
is a replay, gets its features again and changes nothing. The histories are the only record
of what was counted (no list of event keys beside them): one write per event, and a replay
can never disagree with the state. A replay of an event no window reaches any more (older
than the entity's longest lookback before its newest event) finds no trace and is taken
again, which no later event's features can see. ``features(event)`` is the same without the
update (a scored observation, or a look at what an event would get).
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from mlgate.config import DimensionTable, PipelineConfig
from mlgate.online.features import OnlineFeatures, insert
from mlgate.online.store import StateMoved, decode_history, encode_history

STATIC, VERSIONS = "row", "versions"  # the two shapes of a stored dimension key
MAX_TRIES = 20  # reads of an event whose histories other processes keep moving
DIMENSION_CACHE_SECONDS = 60.0  # a bootstrap's new dimension rows reach a service this late
DIMENSION_CACHE_KEYS = 200_000  # decoded dimension keys kept in memory, at most


def micros(moment: datetime | str) -> int:
    """Microseconds since the epoch, UTC (a time without zone is UTC): joins compare times
    exactly, as Spark's timestamps do, not in whole seconds."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_dimension(spec: DimensionTable, rows: list[dict], columns: list[str]) -> bytes:
    """One key's stored dimension: its columns (static), or its versions as
    [start µs, end µs or None, {column: value}] (scd2, lastmodified)."""
    if spec.history == "static":
        return orjson.dumps({STATIC: {c: rows[0].get(c) for c in columns}})
    start = spec.valid_from if spec.history == "scd2" else spec.updated_at
    versions = [
        [
            micros(row[start]),
            micros(row[spec.valid_to]) if spec.valid_to and row.get(spec.valid_to) else None,
            {c: row.get(c) for c in columns},
        ]
        for row in rows
        if row.get(start) is not None
    ]
    return orjson.dumps({VERSIONS: versions})


def version_in(stored: dict | None, at: int) -> dict | None:
    """The columns a row at ``at`` (µs) joins from a decoded stored dimension key: the
    static row, or the newest version that started at or before it and had not ended;
    None without one."""
    if stored is None:
        return None
    if STATIC in stored:
        return stored[STATIC]
    valid = [v for v in stored[VERSIONS] if v[0] <= at and (v[1] is None or at < v[1])]
    return max(valid, key=lambda v: v[0])[2] if valid else None


@dataclass(frozen=True)
class Scored:
    """An event's features, and whether this call stored it (False: a replay, or an event
    without any entity key, which no history takes)."""

    row: dict
    features: dict
    counted: bool


@dataclass(frozen=True)
class Pending:
    """An event read against the state and not stored yet (``OnlineState.commit``)."""

    row: dict  # the event joined with its dimensions
    features: dict
    keys: dict  # entity -> the event's key of it
    histories: dict  # entity -> its earlier events as read
    read: dict  # (entity, key) -> the stored bytes read (None: no history yet)

    def scored(self, counted: bool) -> Scored:
        return Scored(self.row, self.features, counted)


class OnlineState:
    """A pipeline's features online, over a store (``mlgate.online.store``)."""

    def __init__(self, cfg: PipelineConfig, store):
        self.cfg, self.store = cfg, store
        self.spec = cfg.features
        # histories hold events: their key (an observation of an entity target has its own)
        self.engine = OnlineFeatures(
            self.spec, time_column=cfg.row_time, row_key=cfg.source.events.key
        )
        self.event_key = cfg.source.events.key
        self._dimensions: dict[tuple[str, object], tuple[float, dict | None]] = {}

    def _dimension(self, table: str, key: object) -> dict | None:
        """A dimension key's stored rows, decoded; kept in memory for a while (dimension
        rows change only with a bootstrap, and every event of a card reads its card)."""
        cached = self._dimensions.get((table, key))
        if cached is None or cached[0] <= time.monotonic():
            self._prefetch(table, {key})
            cached = self._dimensions[(table, key)]
        return cached[1]

    def joined(self, event: dict) -> dict:
        """The event with its dimensions' columns, joined in the spec's order as of its
        time (a later join may use a column an earlier one brought); no match: nulls."""
        row = dict(event)
        at = micros(row[self.cfg.row_time])
        for join in self.spec.joins:
            self._join(row, join, at)
        return row

    def _join(self, row: dict, join, at: int) -> None:
        key = row.get(join.key)
        found = None if key is None else version_in(self._dimension(join.table, key), at)
        for column in join.columns:
            row[column] = None if found is None else found.get(column)

    def joined_many(self, events: list[dict]) -> list[dict]:
        """``joined`` of many events, each join's keys read in one query per table."""
        rows = [dict(event) for event in events]
        moments = [micros(row[self.cfg.row_time]) for row in rows]
        for join in self.spec.joins:
            self._prefetch(join.table, {row.get(join.key) for row in rows} - {None})
            for row, at in zip(rows, moments, strict=True):
                self._join(row, join, at)
        return rows

    def _histories(self, row: dict) -> tuple[dict, dict, dict]:
        keys = {
            entity: key for entity, key in self.engine.entity_keys(row).items() if key is not None
        }
        stored = self.store.histories(keys.items())
        read = {(entity, key): stored.get((entity, key)) for entity, key in keys.items()}
        decoded = {entity: decode_history(read[(entity, key)]) for entity, key in keys.items()}
        return keys, decoded, read

    def features(self, event: dict) -> Scored:
        """The event's features from the state, without changing it."""
        return self.pending(event).scored(counted=False)

    def pending(self, event: dict) -> Pending:
        """The event's features and its entities' histories as read: what ``commit``
        stores once the caller accepts the event (scored it, say)."""
        row = self.joined(event)
        keys, histories, read = self._histories(row)
        return Pending(row, self.engine.compute(row, histories), keys, histories, read)

    def commit(self, pending: Pending) -> Scored:
        """The event in its entities' histories, in one transaction of the store; False in
        ``counted``, and nothing changed, when one of them holds its key already."""
        row, keys, histories = pending.row, pending.keys, pending.histories
        if not keys or _holds(histories.values(), row[self.event_key]):
            return pending.scored(False)
        updated = {}
        for entity, past in self.engine.remember(row).items():
            kept = self._added(histories[entity], past, entity)
            updated[(entity, keys[entity])] = encode_history(kept, self.engine.columns[entity])
        self.store.apply(updated, read=pending.read)
        return pending.scored(True)

    def _added(self, history: list, past, entity: str) -> list:
        """``history`` with ``past`` in its place, without what no later window reaches."""
        newest = max([past.epoch, *(p.epoch for p in history[-1:])])
        return insert(history, past, newest=newest, lookback=self.engine.lookback[entity])

    def ingest(self, event: dict) -> Scored:
        """The event's features from the state, then the event stored (``commit``); read
        again when another process moved one of its histories meanwhile."""
        for _ in range(MAX_TRIES - 1):
            with suppress(StateMoved):
                return self.commit(self.pending(event))
        return self.commit(self.pending(event))  # the last try's StateMoved is the caller's

    def ingest_many(self, events: list[dict]) -> list[bool]:
        """Store ``events`` (no features computed) with one read of their entities and one
        write, atomic: per event, whether it was counted now (False: counted before, a
        repeat within ``events``, or an event without any entity key). Read again when
        another process moved a history."""
        for _ in range(MAX_TRIES - 1):
            with suppress(StateMoved):
                return self._ingest_many(events)
        return self._ingest_many(events)  # the last try's StateMoved is the caller's

    def _ingest_many(self, events: list[dict]) -> list[bool]:
        rows = self.joined_many(events)
        keyed = [
            {e: k for e, k in self.engine.entity_keys(row).items() if k is not None} for row in rows
        ]
        wanted = list(dict.fromkeys(item for keys in keyed for item in keys.items()))
        stored = self.store.histories(wanted)
        read = {item: stored.get(item) for item in wanted}
        current = {item: decode_history(data) for item, data in read.items()}
        counted, changed = [], set()
        for row, keys in zip(rows, keyed, strict=True):
            # the histories as updated so far: a repeat later in the array is a replay too
            if not keys or _holds((current[i] for i in keys.items()), row[self.event_key]):
                counted.append(False)
                continue
            for entity, past in self.engine.remember(row).items():
                item = (entity, keys[entity])
                current[item] = self._added(current[item], past, entity)
                changed.add(item)
            counted.append(True)
        if changed:
            histories = {
                item: encode_history(current[item], self.engine.columns[item[0]])
                for item in changed
            }
            self.store.apply(histories, read={item: read[item] for item in changed})
        return counted

    def _prefetch(self, table: str, keys: set) -> None:
        """The keys of ``table`` not in the dimension cache, read in one query into it."""
        now = time.monotonic()
        missing = [
            k for k in keys
            if (cached := self._dimensions.get((table, k))) is None or cached[0] <= now
        ]  # fmt: skip
        if not missing:
            return
        found = self.store.dimensions(table, missing)
        if len(self._dimensions) + len(missing) >= DIMENSION_CACHE_KEYS:
            self._dimensions.clear()
        for key in missing:
            data = found.get(key)
            stored = None if data is None else orjson.loads(data)
            self._dimensions[(table, key)] = (now + DIMENSION_CACHE_SECONDS, stored)

    def inputs(self, scored: Scored) -> dict:
        """The model's inputs for a scored event as the Spark job has them: the joined row's
        columns (numeric ones as doubles) and the computed features."""
        return {**self.engine.prepared(scored.row), **scored.features}


def _holds(histories, event_key: object) -> bool:
    """Whether one of ``histories`` holds the event ``event_key`` (it was counted)."""
    return any(past.key == event_key for history in histories for past in history)


__all__ = [
    "OnlineState",
    "Pending",
    "Scored",
    "encode_dimension",
    "micros",
    "version_in",
]
