"""The monitor's newest findings as Prometheus gauges on the scoring service's /metrics.

Read from the files the monitor DAG writes (``monitor/ds=<day>/monitor.json`` and the
newest ``monitor/realised/ds=<day>.json``) at each scrape, so the service shows the day the
monitor last judged without any call between the two. docs/monitoring.md lists them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily

from mlgate.paths import MONITOR_FILE, monitor_partition, realised_path


def _newest(paths: list[Path]) -> dict | None:
    for path in sorted(paths, reverse=True):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # being written: the one before it will do
            continue
    return None


class MonitorCollector:
    """Gauges of one pipeline's newest monitor record (none before the monitor's first day)."""

    def __init__(self, pipeline: str):
        self.pipeline = pipeline

    def collect(self):
        folder = monitor_partition(self.pipeline, "x").parent
        record = _newest(list(folder.glob(f"ds=*/{MONITOR_FILE}")))
        realised = _newest(list(realised_path(self.pipeline, "x").parent.glob("ds=*.json")))
        if record is not None:
            yield from self._day(record)
        if realised is not None:
            gauge = GaugeMetricFamily(
                "mlgate_monitor_realised",
                "The newest matured scoring day's realised metric (value, interval bounds) "
                "and the holdout's promise",
                labels=["metric", "bound", "day", "model_version"],
            )
            for name, interval in realised["metrics"].items():
                for bound in ("value", "lower", "upper"):
                    labels = [name, bound, realised["day"], realised["model_version"]]
                    gauge.add_metric(labels, interval[bound])
            for name, value in realised.get("promised", {}).items():
                gauge.add_metric(
                    [name, "promised", realised["day"], realised["model_version"]], value
                )
            yield gauge

    @staticmethod
    def _day(record: dict):
        day = datetime.fromisoformat(record["ds"]).replace(tzinfo=UTC)
        yield GaugeMetricFamily(
            "mlgate_monitor_day_timestamp_seconds",
            "Start of the newest day the monitor judged",
            value=day.timestamp(),
        )
        psi = GaugeMetricFamily(
            "mlgate_monitor_psi",
            "PSI of a model input or the score against the served version's reference rows",
            labels=["feature"],
        )
        drifted = GaugeMetricFamily(
            "mlgate_monitor_drifted",
            "1 when the feature drifted (significant and above min_psi) on the newest day",
            labels=["feature"],
        )
        for found in record["drift"]:
            psi.add_metric([found["feature"]], found["psi"])
            drifted.add_metric([found["feature"]], float(found["drifted"]))
        streaks = GaugeMetricFamily(
            "mlgate_monitor_breached_days",
            "Days in a row a watch breached its bound (drift; realised performance short)",
            labels=["watch"],
        )
        for watch, days in record["streaks"].items():
            streaks.add_metric([watch], days)
        ages = GaugeMetricFamily(
            "mlgate_monitor_input_age_days",
            "Days between the newest judged day and an input's newest day",
            labels=["input"],
        )
        for name, age in record["freshness_days"].items():
            if age is not None:
                ages.add_metric([name], age)
        yield from (psi, drifted, streaks, ages)
        yield GaugeMetricFamily(
            "mlgate_monitor_retrain_requested",
            "1 when the newest day asked for a retrain",
            value=float(record["retrain"]),
        )


__all__ = ["MonitorCollector"]
