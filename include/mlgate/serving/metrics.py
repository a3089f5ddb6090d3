"""The scoring service's own Prometheus metrics (requests, latency, scores, the model)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import HistogramMetricFamily

LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00015,
    0.0002,
    0.0003,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.1,
    0.5,
    2.5,
)
SCORE_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class ScoreHistogram:
    """A Prometheus histogram of scores, observed a whole batch at a time with numpy."""

    def __init__(self, name: str, documentation: str, buckets=SCORE_BUCKETS):
        self.name, self.documentation = name, documentation
        self.edges = np.asarray(buckets, dtype=float)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.total = 0.0
        self.lock = threading.Lock()

    def observe(self, values: np.ndarray) -> None:
        index = np.searchsorted(self.edges, values, side="left")  # le semantics: v <= edge
        counts = np.bincount(index, minlength=len(self.edges) + 1)
        with self.lock:
            self.counts += counts
            self.total += float(np.sum(values))

    def collect(self):
        with self.lock:
            cumulative = np.cumsum(self.counts)
            total = self.total
        buckets = [(f"{edge:g}", int(c)) for edge, c in zip(self.edges, cumulative)]
        buckets.append(("+Inf", int(cumulative[-1])))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self):
        r = self.registry
        self.requests = Counter(
            "mlgate_serve_requests",
            "HTTP requests by endpoint and status code",
            ["endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mlgate_serve_request_seconds",
            "Time from reading the request to the answer being built, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Counter("mlgate_serve_scored_rows", "Rows scored", registry=r)
        self.scores = ScoreHistogram("mlgate_serve_score", "Probabilities returned by /score")
        r.register(self.scores)
        self.version = Gauge(
            "mlgate_serve_model_version",
            "Registry version of the model being served (0: none; -1: not a number)",
            registry=r,
        )
        self.info = Info("mlgate_serve_model", "The model being served", registry=r)
        self.reloads = Counter(
            "mlgate_serve_model_reloads",
            "Model (re)loads by result",
            ["result"],
            registry=r,
        )


__all__ = ["LATENCY_BUCKETS", "SCORE_BUCKETS", "Metrics", "ScoreHistogram"]
