"""The promotion ledger: one append-only, fsync'd JSON-lines file per pipeline.

Every promotion, rollback, rejection by a person and operator resolution of a pipeline is
a transaction of
three kinds of line in `state/pipelines/<pipeline>/promotions.jsonl`:

- ``intent``: written (and fsync'd) before anything moves: the aliases before, the aliases
  after, the version tags to write and the history entry users see (`mlgate history`);
- ``commit``: written after every alias and tag is in place;
- ``revert``: an intent that will never be applied (superseded by an operator's decision).

The history is the entries of committed intents; lines written before the ledger existed
(a bare history entry with an ``action``) count as committed. The aliases the registry
should show are those after the last committed transaction. This module is pure file
logic and the decisions made from it (what a promotion, rollback or resolution moves, or
why it is refused); moving the aliases in MLflow is `mlgate.registry`'s job. It imports
the core's `paths` and the gates' reason length only: no MLflow.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from mlgate.errors import PermanentError
from mlgate.gates import MIN_OVERRIDE_REASON
from mlgate.paths import promotion_history_path

CHAMPION = "champion"
PREVIOUS = "previous"
CANARY = "canary"  # a candidate in rollout (rollout.mode canary or shadow)
ALIASES = (CHAMPION, PREVIOUS, CANARY)


def all_aliases(aliases: dict) -> dict[str, str | None]:
    """Every alias of ALIASES (one a record from before it existed lacks is None)."""
    return {alias: aliases.get(alias) for alias in ALIASES}


INTENT, COMMIT, REVERT = "intent", "commit", "revert"

# The steps of a transaction, in the order they happen (promote, rollback and the
# operator's resolutions alike). MLGATE_FAULT_PROMOTION_CRASH_AT=<step> ends the process
# right after that step: the crash tests use it to prove every step can be recovered.
INTENT_WRITTEN = "intent_written"
PREVIOUS_MOVED = "previous_moved"
TAGS_WRITTEN = "tags_written"
CHAMPION_MOVED = "champion_moved"
COMMITTED = "committed"
STEPS = (INTENT_WRITTEN, PREVIOUS_MOVED, TAGS_WRITTEN, CHAMPION_MOVED, COMMITTED)
CRASH_ENV = "MLGATE_FAULT_PROMOTION_CRASH_AT"
CRASH_EXIT_CODE = 75

MIN_REASON_CHARS = MIN_OVERRIDE_REASON  # a rollback's or a resolution's reason, like an override's
RESTORE, ACCEPT = "restore", "accept"  # the operator's two answers to aliases moved outside


class LedgerError(RuntimeError, PermanentError):
    """The ledger file cannot be read; the message says where and what to do."""


class PromotionError(RuntimeError, PermanentError):
    """Promotion or rollback refused; the message says why and what to do."""


class AliasesMovedError(PromotionError):
    """The registry's aliases are not those the ledger recorded: moved outside mlgate."""


def crash_step() -> str | None:
    """The step the fault hook is set to end the process after, if any (checked)."""
    wanted = os.environ.get(CRASH_ENV) or None
    if wanted is not None and wanted not in STEPS:
        raise LedgerError(f"{CRASH_ENV}={wanted!r} is not a step; the steps are {STEPS}")
    return wanted


def crash_point(step: str) -> None:
    """The fault hook: end the process abruptly after `step` when the env var names it."""
    if crash_step() == step:
        os._exit(CRASH_EXIT_CODE)  # no cleanup, no finally: what a kill -9 leaves behind


@dataclass
class Transaction:
    """One intended change of the aliases, with the history entry it stands for."""

    action: str
    before: dict[str, str | None]
    after: dict[str, str | None]
    entry: dict
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self):
        self.before, self.after = all_aliases(self.before), all_aliases(self.after)

    def intent_record(self) -> dict:
        return {
            "ledger": INTENT,
            "id": self.id,
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "tags": self.tags,
            "entry": self.entry,
        }

    @classmethod
    def from_record(cls, record: dict) -> Transaction:
        return cls(
            action=record["action"],
            before=record["before"],
            after=record["after"],
            entry=record["entry"],
            tags=record.get("tags") or {},
            id=record["id"],
        )


@dataclass
class LedgerState:
    """What the ledger says: the history, the aliases it expects, an unfinished intent."""

    history: list[dict]
    expected: dict[str, str | None]
    pending: Transaction | None
    champions: set[str]  # every version that was ever champion by the ledger


def _path(pipeline: str) -> Path:
    return promotion_history_path(pipeline)


def append(pipeline: str, record: dict) -> None:
    """Append one line and make it durable (fsync) before returning."""
    path = _path(pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    drop_torn_tail(pipeline)  # a new line must not be glued to a torn one
    new = not path.exists()
    line = json.dumps(record, default=str, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:  # the file's name must survive a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def commit(pipeline: str, txn: Transaction) -> None:
    append(pipeline, {"ledger": COMMIT, "id": txn.id})


def revert(pipeline: str, txn: Transaction, reason: str) -> None:
    append(pipeline, {"ledger": REVERT, "id": txn.id, "reason": reason})


def read_records(pipeline: str) -> list[dict]:
    """Every complete line; a torn last line (a crash while appending) is left out."""
    path = _path(pipeline)
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines) and not text.endswith("\n"):
                break  # torn: written before the crash, never fsync'd whole, never acted on
            raise LedgerError(
                f"{path} line {number} is not JSON; the promotion ledger is append-only, so "
                "someone edited it: restore it from a backup before promoting again"
            ) from None
    return records


def drop_torn_tail(pipeline: str) -> bool:
    """Cut a torn last line off the file (nothing acted on it); True if there was one."""
    path = _path(pipeline)
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return False
        handle.seek(0)
        handle.truncate(handle.read().rfind(b"\n") + 1)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _legacy_aliases(entry: dict, history: list[dict]) -> dict[str, str | None]:
    """The aliases after a history line written before the ledger recorded them."""
    if entry["action"] != "rollback":
        return {CHAMPION: entry["version"], PREVIOUS: entry.get("previous")}
    before_target = None
    for earlier in reversed(history):
        if earlier.get("action") == "promote" and earlier.get("version") == entry["version"]:
            before_target = earlier.get("previous")
            break
    if before_target in (entry["version"], entry.get("previous")):
        before_target = None
    return {CHAMPION: entry["version"], PREVIOUS: before_target}


def state(pipeline: str) -> LedgerState:
    """Replay the ledger: committed history, the aliases it expects, a pending intent."""
    history: list[dict] = []
    expected: dict[str, str | None] = all_aliases({})
    champions: set[str] = set()
    open_intents: dict[str, Transaction] = {}
    for record in read_records(pipeline):
        kind = record.get("ledger")
        if kind is None:  # a history line from before the ledger: committed by definition
            expected = all_aliases(_legacy_aliases(record, history))
            history.append(record)
        elif kind == INTENT:
            open_intents[record["id"]] = Transaction.from_record(record)
        elif kind == COMMIT and record["id"] in open_intents:
            txn = open_intents.pop(record["id"])
            expected = dict(txn.after)
            history.append(txn.entry)
        elif kind == REVERT:
            open_intents.pop(record["id"], None)
        if expected[CHAMPION]:
            champions.add(expected[CHAMPION])
    if len(open_intents) > 1:  # every transaction runs under the lock, after recovery
        raise LedgerError(
            f"{_path(pipeline)} has {len(open_intents)} unfinished intents; only one can "
            "exist (each promotion finishes the last): the file was edited by hand"
        )
    pending = next(iter(open_intents.values()), None)
    return LedgerState(history, expected, pending, champions)


def history(pipeline: str) -> list[dict]:
    """Every committed promotion, rollback and resolution, oldest first."""
    return state(pipeline).history


def _version_label(version: str | None) -> str:
    return f"version {version}" if version else "no version"


@dataclass
class AliasCheck:
    """The registry's `champion` / `previous` next to what the pipeline's ledger says."""

    pipeline: str
    model_name: str
    registry: dict[str, str | None]
    ledger: dict[str, str | None]
    pending: Transaction | None

    @property
    def moved(self) -> list[str]:
        """The aliases that disagree (mid-transaction, either side of it agrees)."""
        if self.pending is not None:
            allowed = {a: {self.pending.before[a], self.pending.after[a]} for a in ALIASES}
        else:
            allowed = {a: {self.ledger[a]} for a in ALIASES}
        return [a for a in ALIASES if self.registry[a] not in allowed[a]]

    def describe(self) -> str:
        """What moved, and the two ways to resolve it."""
        what = "; ".join(
            f"`{alias}` is {_version_label(self.registry[alias])} in the registry but "
            f"{_version_label(self.ledger[alias])} in the ledger"
            for alias in self.moved
        )
        return (
            f"the aliases of {self.model_name} were moved outside mlgate (not by a promotion "
            f"or rollback): {what} ({_path(self.pipeline)}). Until an operator resolves it "
            "nothing is promoted or served. Move them back with "
            f"`mlgate aliases --pipeline {self.pipeline} --restore --reason '...'`, or keep "
            f"the registry's versions with `mlgate aliases --pipeline {self.pipeline} "
            "--accept --reason '...'` (both recorded in the ledger)"
        )

    def to_dict(self) -> dict:
        return {
            "registry": self.registry,
            "ledger": self.ledger,
            "pending": self.pending.action if self.pending else None,
            "moved": self.moved,
            "problem": self.describe() if self.moved else None,
        }


def require_reason(reason: str, what: str) -> None:
    if len(reason.strip()) < MIN_REASON_CHARS:
        raise PromotionError(
            f"{what} needs a written reason of at least {MIN_REASON_CHARS} characters"
        )


def plan_promotion(
    current: LedgerState,
    model_name: str,
    version: str,
    *,
    expected_champion: str | None,
    record: dict,
    at: str,
) -> Transaction | dict:
    """The promotion's transaction, or the history entry of the same promotion done before."""
    champion = current.expected[CHAMPION]
    if champion == version:
        last = current.history[-1] if current.history else {}
        if last.get("action") == "promote" and last.get("version") == version:
            return last  # a rerun: done already (maybe finished by the recovery just now)
        raise PromotionError(
            f"version {version} is already the champion of {model_name}; nothing to promote"
        )
    if champion != expected_champion:
        raise PromotionError(
            f"the champion of {model_name} moved from version {expected_champion} to "
            f"{champion} while version {version} was being evaluated; rerun the DAG so the "
            "gates compare against the new champion"
        )
    entry = {
        "action": "promote",
        "at": at,
        "model_name": model_name,
        "version": version,
        "previous": champion,
        **record,
    }
    return Transaction(
        action="promote",
        before=dict(current.expected),
        after={**current.expected, CHAMPION: version, PREVIOUS: champion},
        entry=entry,
        tags={version: {"promoted_at": at, "promoted_by": str(record.get("by", ""))}},
    )


def plan_canary(
    current: LedgerState, model_name: str, version: str, *, record: dict, at: str
) -> Transaction | dict:
    """Start a rollout: `canary` to `version`, champion and previous unchanged; or the entry
    of the same start recorded before (a rerun). One rollout at a time."""
    canary, champion = current.expected[CANARY], current.expected[CHAMPION]
    if canary == version:
        for entry in reversed(current.history):
            if entry.get("action") == "canary" and entry.get("version") == version:
                return entry
    if canary is not None:
        raise PromotionError(
            f"version {canary} of {model_name} is in rollout as `canary`: one rollout at a "
            f"time; version {version} waits until it is promoted or rolled back"
        )
    if champion == version:
        raise PromotionError(f"version {version} is already the champion of {model_name}")
    entry = {
        "action": "canary",
        "at": at,
        "model_name": model_name,
        "version": version,
        "previous": champion,
        **record,
    }
    return Transaction(
        action="canary",
        before=dict(current.expected),
        after={**current.expected, CANARY: version},
        entry=entry,
        tags={version: {"canary_at": at}},
    )


def plan_rollout_end(
    current: LedgerState, model_name: str, *, promote: bool, record: dict, at: str
) -> Transaction:
    """End the rollout: the canary becomes champion (the champion becomes `previous`), or it
    is rolled back (champion unchanged); `canary` is cleared either way."""
    canary, champion = current.expected[CANARY], current.expected[CHAMPION]
    if canary is None:
        raise PromotionError(f"{model_name} has no canary: no rollout to end")
    if promote:
        action, after = "promote", {CHAMPION: canary, PREVIOUS: champion, CANARY: None}
        tags = {canary: {"promoted_at": at, "promoted_by": str(record.get("by", ""))}}
    else:
        action, after = "canary_rollback", {**current.expected, CANARY: None}
        tags = {canary: {"rolled_back_at": at, "rollback_reason": str(record.get("reason", ""))}}
    entry = {
        "action": action,
        "at": at,
        "model_name": model_name,
        "version": canary,
        "previous": champion,
        **record,
    }
    return Transaction(action, dict(current.expected), after, entry, tags)


def plan_rejection(
    current: LedgerState, model_name: str, version: str, *, record: dict, at: str
) -> Transaction | dict:
    """A candidate a person rejected (or left unanswered): a history entry that moves no
    alias, or the entry of the same rejection recorded before (a rerun)."""
    for entry in reversed(current.history):
        if entry.get("action") == "reject" and entry.get("version") == version:
            return entry
    entry = {"action": "reject", "at": at, "model_name": model_name, "version": version, **record}
    return Transaction(
        action="reject", before=dict(current.expected), after=dict(current.expected), entry=entry
    )


def plan_rollback(
    current: LedgerState, model_name: str, *, reason: str, by: str, at: str
) -> Transaction:
    """`champion` back to `previous`, which must be an earlier champion by the ledger."""
    champion, target = current.expected[CHAMPION], current.expected[PREVIOUS]
    if champion is None or target is None:
        raise PromotionError(
            f"{model_name} has no {'champion' if champion is None else 'previous'} version, "
            "so there is nothing to roll back to"
        )
    if target == champion:
        raise PromotionError(
            f"`previous` and `champion` of {model_name} are both version {champion}: a "
            "rollback would change nothing; `mlgate history` shows the earlier champions"
        )
    if target not in current.champions:
        raise PromotionError(
            f"`previous` of {model_name} is version {target}, which was never champion by "
            "the promotion ledger; a rollback only goes back to an earlier champion "
            "(`mlgate history`)"
        )
    # The version that was champion before `target` becomes the new `previous`.
    before_target = None
    for entry in reversed(current.history):
        if entry.get("action") == "promote" and entry.get("version") == target:
            before_target = entry.get("previous")
            break
    if before_target in (target, champion):
        before_target = None
    return Transaction(
        action="rollback",
        before=dict(current.expected),
        after={**current.expected, CHAMPION: target, PREVIOUS: before_target},
        entry={
            "action": "rollback",
            "at": at,
            "model_name": model_name,
            "version": target,
            "previous": champion,
            "by": by,
            "reason": reason,
        },
        tags={champion: {"rolled_back_at": at, "rollback_reason": reason}},
    )


def plan_resolution(check: AliasCheck, how: str, *, reason: str, by: str, at: str) -> Transaction:
    """`restore`: the ledger's versions back on the aliases; `accept`: keep the registry's."""
    if not check.moved:
        raise PromotionError(
            f"the aliases of {check.model_name} agree with the promotion ledger (champion: "
            f"{_version_label(check.registry[CHAMPION])}, previous: "
            f"{_version_label(check.registry[PREVIOUS])}): nothing to resolve"
        )
    found, recorded = dict(check.registry), dict(check.ledger)
    before, after = (found, recorded) if how == RESTORE else (recorded, found)
    return Transaction(
        action=how,
        before=before,
        after=after,
        entry={
            "action": how,
            "at": at,
            "model_name": check.model_name,
            "version": after[CHAMPION],
            "previous": after[PREVIOUS],
            "registry_had": found,
            "ledger_had": recorded,
            "by": by,
            "reason": reason,
        },
    )
