"""A rollout in `mlgate serve`: the canary beside the champion (``rollout:`` of the pipeline).

While a version is in rollout (the registry alias ``canary``), both models score every row:

- **canary** mode: the canary answers the rows whose routing key (``route_by``, the
  pipeline's first entity key: a card, a visitor) falls in the configured ``share``. The
  split is by a hash of the key, so an entity is answered by the same model on every
  request and by every replica of the service; a row without the key is the champion's;
- **shadow** mode: the champion answers every row; the canary only scores.

Each row's two outputs (versions, probabilities, which one answered) go to a JSON-lines file
per UTC day (``paths.serving_outputs``), and a counter by answering model to /metrics. A
canary that cannot score a row (it needs inputs the request lacks) is logged once and the
champion answers. The <pipeline>_rollout DAG decides on the batch scores of the same days.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from prometheus_client import Counter

from mlgate.paths import serving_outputs

log = logging.getLogger("mlgate.serve")

CANARY, SHADOW = "canary", "shadow"


def bucket(key) -> float:
    """Where a routing key falls in [0, 1): the same for every process and every run."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class OutputLog:
    """Appends one JSON line per scored row to the day's file (line-buffered, thread-safe)."""

    def __init__(self, pipeline: str):
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._day: str | None = None
        self._file = None

    def write(self, records: list[dict]) -> None:
        now = datetime.now(UTC)
        day = now.date().isoformat()
        at = now.isoformat(timespec="milliseconds")
        lines = "".join(json.dumps({"at": at, **r}) + "\n" for r in records)
        with self._lock:
            if day != self._day:
                if self._file is not None:
                    self._file.close()
                path = serving_outputs(self.pipeline, day)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(path, "a", buffering=1)  # noqa: SIM115 - kept open all day
                self._day = day
            self._file.write(lines)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file, self._day = None, None


@dataclass(frozen=True)
class RolloutSpec:
    """What `mlgate serve` is told of a pipeline's rollout; ``create_app`` builds it."""

    source: object  # the canary's ModelSource (the registry alias `canary`)
    pipeline: str
    mode: str
    share: float
    route_by: str

    def build(self, metrics, threads: int, input_ranges, holder_class) -> Rollout:
        holder = holder_class(self.source, type(metrics)(), threads, input_ranges, False)
        return Rollout(
            holder,
            mode=self.mode,
            share=self.share,
            route_by=self.route_by,
            log_to=OutputLog(self.pipeline),
            registry=metrics.registry,
        )


class Rollout:
    """The canary's holder, how rows are routed, and the log of both outputs."""

    def __init__(
        self, holder, *, mode: str, share: float, route_by: str, log_to: OutputLog, registry
    ):
        if mode not in (CANARY, SHADOW):
            raise ValueError(f"rollout mode must be {CANARY!r} or {SHADOW!r}, not {mode!r}")
        self.holder, self.mode, self.share, self.route_by = holder, mode, share, route_by
        self.log = log_to
        self.rows = Counter(
            "mlgate_serve_rollout_rows",
            "Rows scored during a rollout, by the model whose answer was returned",
            ["answered_by"],
            registry=registry,
        )
        self._failed_version: str | None = None

    def status(self) -> dict:
        canary = self.holder.current
        return {
            "mode": self.mode,
            "share": self.share if self.mode == CANARY else 0.0,
            "route_by": self.route_by,
            "canary_version": canary.version if canary else None,
            "last_error": self.holder.last_error if canary is None else None,
        }

    def routed(self, key) -> bool:
        """Whether the canary answers the row of this routing key."""
        return self.mode == CANARY and key is not None and bucket(key) < self.share

    def keys(self, body: bytes, rows: int) -> list:
        """The routing key of each row of a request body (None where a row has none)."""
        import orjson

        parsed = orjson.loads(body)
        items = parsed if isinstance(parsed, list) else [parsed]
        return [item.get(self.route_by) if isinstance(item, dict) else None for item in items][
            :rows
        ]

    def answer(
        self, champion, probabilities: np.ndarray, keys: list, canary_scores: Callable
    ) -> tuple[np.ndarray, list[str], list[float]]:
        """Each row's answer: (probabilities, model versions, thresholds). ``canary_scores``
        scores the same rows with a served model (``ServedModel``)."""
        count = len(probabilities)
        threshold = champion.scorer.spec.operating_threshold
        canary = self.holder.current
        if canary is None:
            return probabilities, [champion.version] * count, [threshold] * count
        try:
            other = np.asarray(canary_scores(canary), dtype=float)
        except Exception as error:  # e.g. an input the champion does not take
            if self._failed_version != canary.version:
                log.error("canary version %s cannot score: %s", canary.version, error)
                self._failed_version = canary.version
            return probabilities, [champion.version] * count, [threshold] * count
        routed = np.array([self.routed(k) for k in keys], dtype=bool)
        answers = np.where(routed, other, probabilities)
        canary_threshold = canary.scorer.spec.operating_threshold
        versions = [canary.version if r else champion.version for r in routed]
        thresholds = [canary_threshold if r else threshold for r in routed]
        self.log.write(
            [
                {
                    "key": key,
                    "mode": self.mode,
                    "answered_by": CANARY if r else "champion",
                    "champion": {"version": champion.version, "probability": float(p)},
                    "canary": {"version": canary.version, "probability": float(q)},
                }
                for key, r, p, q in zip(keys, routed, probabilities, other)
            ]
        )
        by_canary = int(routed.sum())
        if by_canary:
            self.rows.labels(CANARY).inc(by_canary)
        if count - by_canary:
            self.rows.labels("champion").inc(count - by_canary)
        return answers, versions, thresholds


__all__ = ["CANARY", "SHADOW", "OutputLog", "Rollout", "RolloutSpec", "bucket"]
