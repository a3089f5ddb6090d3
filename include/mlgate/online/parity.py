"""The online side of the online_parity gate: a day's rows through the online path.

A throwaway embedded state is bootstrapped from the lake at the start of the day (with the
dimensions the run joined), then the day's events are replayed in time order through
``OnlineState.ingest``, as the scoring service would receive them; an entity target's
observations are scored between them at their times (``OnlineState.features``). The
result has one row per scored row: its key and every model input, which the caller scores
with the candidate's ONNX twin and ``mlgate.gates.online`` compares with Spark.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from mlgate.config import FeatureSpec, PipelineConfig
from mlgate.online.bootstrap import EPOCH, bootstrap, read_events
from mlgate.online.state import OnlineState, micros
from mlgate.online.store import EmbeddedStore

EXACT_OPS = ("count", "count_distinct", "seconds_since_last")


def exact_features(spec: FeatureSpec) -> set[str]:
    """The model inputs that must be equal, not close: counts, flags, time parts and
    categories (everything that is not a sum, mean, spread, ratio or numeric value)."""
    exact = set()
    for feature in spec.features():
        counted = feature.source == "aggregation" and feature.item.op in EXACT_OPS
        if counted or feature.source in ("novelty", "mismatch", "time"):
            exact.add(feature.name)
        if feature.kind == "categorical":
            exact.add(feature.name)
    return exact


def replay_day(
    cfg: PipelineConfig,
    day: date,
    dimensions_of: date,
    *,
    observations: pd.DataFrame | None = None,
    workdir: Path | None = None,
) -> pd.DataFrame:
    """Every row of ``day`` scored through the online path: (row key, model inputs).

    Event target: the day's events (accepted, not quarantined, as the Spark job reads
    them). Entity target: ``observations`` (row key, time, the entity's key), scored at
    their times while the day's events are ingested."""
    start = datetime.combine(day, datetime.min.time())
    numeric, categorical = cfg.features.model_inputs()
    inputs = list(dict.fromkeys([*numeric, *categorical]))
    with tempfile.TemporaryDirectory(dir=workdir, prefix="mlgate-online-parity-") as tmp:
        store = EmbeddedStore(Path(tmp) / "online.db")
        try:
            bootstrap(cfg, store, start, dimensions_of=dimensions_of, progress=lambda _: None)
            state = OnlineState(cfg, store)
            events, _ = read_events(cfg, start + timedelta(days=1), 86_400, None)
            queue = [] if events is None else _rows(events.drop_columns([EPOCH]))
            spec = cfg.source.events
            timeline = [(micros(e[spec.time_column]), 0, e[spec.key], e) for e in queue]
            if observations is not None:
                timeline += [
                    (micros(o[cfg.row_time]), 1, o[cfg.row_key], o)
                    for o in observations.to_dict("records")
                ]
            timeline.sort(key=lambda item: (item[0], item[1], str(item[2])))
            out = []
            observed = observations is not None
            for _, is_observation, _, row in timeline:
                if is_observation:
                    scored = state.features(row)
                else:
                    scored = state.ingest(row)
                    if observed:
                        continue  # an entity target scores observations, not events
                values = state.inputs(scored)
                out.append({cfg.row_key: row[cfg.row_key], **{c: values.get(c) for c in inputs}})
        finally:
            store.close()
    return pd.DataFrame(out, columns=[cfg.row_key, *inputs])


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()
