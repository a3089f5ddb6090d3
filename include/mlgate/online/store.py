"""Where the online state lives: entity histories and dimension rows.

``EmbeddedStore`` is the default, one SQLite file in write-ahead-log mode that needs no
server. An event's update (its entities' new histories, each holding the event's key: what
tells a replay, ``mlgate.online.state``) is one transaction: after ``apply`` returns, the
update survives a crash of the process; with ``durable=True`` (``synchronous=FULL``) it also
survives a crash of the machine, at the price of a flush per event.

Keys are stored as their JSON text, so the entity 1 and the entity "1" stay apart; values
are orjson bytes (``encode_history``): columns, not rows, to keep a typical entity small.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

import orjson

from mlgate.online.features import Past

CHECKPOINT_SECONDS = 1.0  # how often the write-ahead log is copied into the file
RESTART_LOG_BYTES = 32 * 2**20  # a log this long is finished and started over
PAGE_BYTES = 4096  # SQLite's default page size, which the file keeps
MMAP_BYTES = 2**30  # the file read through a memory map, up to this size
CACHE_KIB = 64 * 1024  # SQLite's own page cache

SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    entity TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (entity, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dimension (
    tbl TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (tbl, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def key_text(key: object) -> str:
    return orjson.dumps(key).decode()


def encode_history(history: list[Past], columns: list[str]) -> bytes:
    """[epochs, keys, {column: values}]: one list per column, in time order."""
    return orjson.dumps(
        [
            [p.epoch for p in history],
            [p.key for p in history],
            {c: [p.values.get(c) for p in history] for c in columns},
        ]
    )


def decode_history(data: bytes | None) -> list[Past]:
    if not data:
        return []
    epochs, keys, columns = orjson.loads(data)
    names = list(columns)
    rows = zip(*(columns[c] for c in names), strict=True) if names else ([()] * len(epochs))
    return [
        Past(epoch, key, dict(zip(names, values, strict=True)))
        for epoch, key, values in zip(epochs, keys, rows, strict=True)
    ]


class StateMoved(RuntimeError):
    """Another process stored an event of the same entity since the caller read its
    history (``RedisStore``): read again and recompute."""


class StoreInUse(RuntimeError):
    """Another process holds the state (a running ``mlgate serve``, a bootstrap)."""


def lock_file(path: Path):
    """An exclusive lock on ``path``'s lock file, held while the returned file is open:
    one process writes a state file, and a bootstrap never swaps one under a service."""
    handle = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 (held open)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreInUse(
            f"the online state {path} is in use by another process (a running mlgate serve, "
            "or a bootstrap): stop it first, or give another path"
        ) from None
    return handle


class EmbeddedStore:
    """The online state in one SQLite file (see the module docstring), written by one
    process at a time (``StoreInUse`` otherwise)."""

    def __init__(self, path: str | Path, *, durable: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = lock_file(self.path)
        # isolation_level=None: transactions are begun and committed here, explicitly
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.executescript(SCHEMA)
        # reads of a big state go through the OS's page cache, not a copy per page
        self.db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        # the log is copied into the file by a thread of its own, not by the event whose
        # commit crosses the threshold: its flush to disk would stall that event
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.execute(f"PRAGMA journal_size_limit={RESTART_LOG_BYTES}")
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_every, args=(CHECKPOINT_SECONDS,), daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_every(self, seconds: float) -> None:
        """Copy the log into the file every ``seconds`` without blocking the writer; when
        the log has grown past ``RESTART_LOG_BYTES`` (a writer that never pauses keeps a
        passive copy from ever finishing), finish the copy and start the log over: the
        writer waits only for the frames of the last second."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(seconds):
                _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames * PAGE_BYTES > RESTART_LOG_BYTES:
                    db.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            db.close()

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join()
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file whole, the log empty
        self.db.close()
        self._lock.close()

    # --- reads -----------------------------------------------------------------------

    def histories(self, wanted: Iterable[tuple[str, object]]) -> dict[tuple[str, object], bytes]:
        """(entity, key) -> its encoded history, for those that have one."""
        wanted = list(wanted)
        if len(wanted) == 1:  # the one-event path: one indexed lookup
            ((entity, key),) = wanted
            row = self.db.execute(
                "SELECT data FROM history WHERE entity = ? AND key = ?", (entity, key_text(key))
            ).fetchone()
            return {} if row is None else {(entity, key): row[0]}
        by_entity: dict[str, list[object]] = {}
        for entity, key in wanted:
            by_entity.setdefault(entity, []).append(key)
        found = {}
        for entity, keys in by_entity.items():
            rows = self._in(
                "SELECT key, data FROM history WHERE entity = ? AND key IN ({marks})",
                (entity,),
                keys,
            )
            found.update({(entity, k): rows[key_text(k)] for k in keys if key_text(k) in rows})
        return found

    def _in(self, sql: str, lead: tuple, keys: list[object]) -> dict[str, bytes]:
        """key text -> the value ``sql`` selects for it, for keys given as their text, in
        chunks under SQLite's limit on bound parameters."""
        found = {}
        for start in range(0, len(keys), 500):
            chunk = [key_text(k) for k in keys[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(sql.format(marks=marks), (*lead, *chunk)).fetchall())
        return found

    def dimensions(self, table: str, keys: list[object]) -> dict[object, bytes]:
        """key -> its stored dimension data, for the keys that have one (one query)."""
        found = self._in(
            "SELECT key, data FROM dimension WHERE tbl = ? AND key IN ({marks})", (table,), keys
        )
        return {k: found[key_text(k)] for k in keys if key_text(k) in found}

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT name, value FROM meta").fetchall())

    def sizes(self) -> dict[str, int]:
        """Rows per table (entities with a history, dimension rows)."""
        return {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("history", "dimension")
        }

    # --- writes ----------------------------------------------------------------------

    def apply(
        self,
        histories: Mapping[tuple[str, object], bytes],
        *,
        read: Mapping[tuple[str, object], bytes | None] | None = None,
    ) -> None:
        """Store the new histories of one event or of many, in one transaction.

        ``read`` (the histories as the caller read them) is for stores that several
        processes write; this file has one writer (its lock), so nothing moves under it.
        """
        with self._transaction():
            self.db.executemany(
                "INSERT INTO history (entity, key, data) VALUES (?, ?, ?) "
                "ON CONFLICT (entity, key) DO UPDATE SET data = excluded.data",
                [(entity, key_text(key), data) for (entity, key), data in histories.items()],
            )

    @contextmanager
    def _transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def load(
        self,
        *,
        histories: Iterable[tuple[str, object, bytes]] = (),
        dimensions: Iterable[tuple[str, object, bytes]] = (),
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Bulk writes of a bootstrap, in one transaction (replacing what was there)."""
        db = self.db
        with self._transaction():
            db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?)",
                ((e, key_text(k), d) for e, k, d in histories),
            )
            db.executemany(
                "INSERT OR REPLACE INTO dimension VALUES (?, ?, ?)",
                ((t, key_text(k), d) for t, k, d in dimensions),
            )
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", (meta or {}).items())

    def clear(self) -> None:
        self.db.executescript("DELETE FROM history; DELETE FROM dimension; DELETE FROM meta;")
