#!/usr/bin/env python3
"""Online features benchmark (`make bench-online`): raw events scored from a 1M-entity state.

On this machine, for the embedded store (one SQLite file) and Redis (Debian's redis-server,
started here with a password, every write appended and flushed before the reply):

1. A synthetic fraud lake of ``--entities`` cards (the fraud pipeline's own spec, tables
   and columns), each with its events of the 14 days before the moment (a typical card:
   ``--events-per-entity`` on average), every day accepted; its state bootstrapped from
   that lake (`mlgate online bootstrap`'s code): seconds, entities, events.
2. State size per entity: the embedded file's bytes, Redis's memory (MEMORY USAGE of the
   namespace's keys), and the stored history bytes of a typical entity (7-day windows).
3. In process, one event at a time through the service's own path
   (``mlgate.serving.events.EventScoring.score``: JSON parsed, record rules, dimension
   joins, features from the state, the champion's ONNX twin, state update): p50 / p99 over
   ``--events`` new events of random cards, and the events per second of that loop;
   ingest without scoring (``POST /events`` path, batches of 100): events per second.
4. HTTP: `mlgate serve --online` in its own process, raw events (each a new one, never a
   replay) from 1 and 8 concurrent keep-alive clients for ``--seconds`` (3 rounds after a
   warm-up): p50 / p99 as the client sees it, requests/s.

The model is the demo champion's ONNX twin (`make run` first), as the service would load it.
The table goes to docs/benchmarks.md, section "Online features" (replaced in place), the
figures to docs/bench/online.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from bench_docs import publish  # scripts/ is on sys.path when run
from bench_serve import (
    champion,
    machine,
    median_of_rounds,
    percentiles,
    start_service,
    stop_service,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO / "tests"))

GOALS = {
    "in_process_p99_ms": 1.0,
    "http_p99_ms": 5.0,
    "events_per_s": 10_000,
    "bytes_per_entity": 2048,
    "bootstrap_s": 120,
}
AS_OF = datetime(2026, 11, 1)
LOOKBACK_DAYS = 14
SECTION = "Online features"


# --- 1. the lake ---------------------------------------------------------------------------


def write_lake(cfg, entities: int, per_entity: float, seed: int) -> dict:
    """The fraud lake of ``entities`` cards: transactions of the 14 days before AS_OF, the
    dimensions of the run of the day before, every day accepted."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlgate.ingest import status
    from mlgate.paths import table_partition

    rng = np.random.default_rng(seed)
    counts = rng.poisson(per_entity, entities)
    card = np.repeat(np.arange(1, entities + 1), counts)
    n = len(card)
    start = np.datetime64(AS_OF - timedelta(days=LOOKBACK_DAYS), "s")
    created = start + rng.integers(0, LOOKBACK_DAYS * 86_400, n).astype("timedelta64[s]")
    merchants = max(1_000, entities // 100)
    tx = pd.DataFrame(
        {
            "transaction_id": np.arange(1, n + 1),
            "card_id": card,
            "merchant_id": rng.integers(1, merchants + 1, n),
            "amount": np.round(rng.lognormal(3.5, 1.0, n).clip(0.01, 50_000), 2),
            "currency": "USD",
            "country": rng.choice(["US", "US", "US", "CA", "GB", "MX"], n),
            "channel": rng.choice(["pos", "ecom", "atm"], n, p=[0.6, 0.35, 0.05]),
            "created_at": created.astype("datetime64[us]"),
        }
    )
    tx["device_id"] = np.where(tx["channel"] == "ecom", "d" + (card % 50_000).astype(str), None)
    tx["ds"] = tx["created_at"].dt.date
    days = sorted(tx["ds"].unique())
    for day in days:
        folder = table_partition(cfg.name, "transactions", day.isoformat())
        folder.mkdir(parents=True)
        rows = tx[tx["ds"] == day].drop(columns="ds").sort_values("created_at")
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), folder / "p.parquet")
    run = (AS_OF - timedelta(days=1)).date()
    decider = status.Decider(cfg.name, run.isoformat(), "bench-online")
    status.set_status(cfg.name, "transactions", days, status.ACCEPTED, decider)
    customers = entities  # one card per customer
    dims = {
        "cards": pd.DataFrame(
            {
                "card_id": np.arange(1, entities + 1),
                "customer_id": np.arange(1, entities + 1),
                "card_type": rng.choice(["credit", "debit", "prepaid"], entities),
            }
        ),
        "merchants": pd.DataFrame(
            {
                "merchant_id": np.arange(1, merchants + 1),
                "merchant_category": rng.choice(["grocery", "fuel", "retail", "travel"], merchants),
                "merchant_country": rng.choice(["US", "CA", "GB"], merchants),
            }
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": np.arange(1, customers + 1),
                "home_country": rng.choice(["US", "CA", "GB"], customers),
            }
        ),
    }
    for table, frame in dims.items():
        folder = table_partition(cfg.name, table, run.isoformat())
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "p.parquet", index=False)
    return {"events": n, "merchants": merchants, "next_key": n + 1}


def new_events(count: int, entities: int, merchants: int, first_key: int, seed: int) -> list:
    """Raw events after AS_OF, of random cards, one second apart on average."""
    rng = np.random.default_rng(seed)
    cards = rng.integers(1, entities + 1, count)
    channels = rng.choice(["pos", "ecom", "atm"], count, p=[0.6, 0.35, 0.05])
    return [
        {
            "transaction_id": first_key + i,
            "card_id": int(cards[i]),
            "merchant_id": int(rng.integers(1, merchants + 1)),
            "amount": round(float(rng.lognormal(3.5, 1.0)), 2) + 0.01,
            "currency": "USD",
            "country": "US",
            "channel": str(channels[i]),
            "device_id": f"d{cards[i] % 50_000}" if channels[i] == "ecom" else None,
            "created_at": (AS_OF + timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]


# --- 2. sizes ------------------------------------------------------------------------------


def typical_history_bytes(store, entities: int) -> dict:
    """Stored history bytes of 2,000 cards spread over the keys: median and 90th percentile."""
    sample = [("card", int(k)) for k in np.linspace(1, entities, 2_000).astype(int)]
    sizes = sorted(len(v) for v in store.histories(sample).values())
    return {
        "median_history_bytes": int(np.median(sizes)),
        "p90_history_bytes": sizes[9 * len(sizes) // 10],
    }


# --- 3. in process -------------------------------------------------------------------------


def bench_in_process(cfg, store, scorer_folder: Path, events: list[dict]) -> dict:
    from mlgate.export.portable import PortableScorer
    from mlgate.online.state import OnlineState
    from mlgate.serving.app import ServedModel
    from mlgate.serving.events import EventScoring

    model = ServedModel.build("bench", "bench", PortableScorer.from_dir(scorer_folder))
    online = EventScoring(cfg, OnlineState(cfg, store))
    bodies = [json.dumps(e).encode() for e in events]
    half = len(bodies) // 2
    for body in bodies[:500]:  # warm-up: caches, ONNX Runtime's first calls
        online.score(body, model, with_features=False)
    samples = []
    started = time.perf_counter()
    for body in bodies[500:half]:
        t0 = time.perf_counter()
        answer = online.score(body, model, with_features=False)
        samples.append(time.perf_counter() - t0)
        assert answer["counted"], answer
    wall = time.perf_counter() - started
    scored = {**percentiles(samples), "events_per_s": len(samples) / wall}
    ingest = bodies[half:]
    batches = [b"[" + b",".join(ingest[i : i + 100]) + b"]" for i in range(0, len(ingest), 100)]
    started = time.perf_counter()
    stored = sum(online.store(batch)["counted"] for batch in batches)
    wall = time.perf_counter() - started
    return {"score": scored, "ingest_events_per_s": stored / wall, "ingested": stored}


# --- 4. HTTP -------------------------------------------------------------------------------


async def _client(port, requests, next_index, until, out):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            request = requests[next(next_index)]  # every request a new event
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            body = await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            if not head.startswith(b"HTTP/1.1 200") or b'"counted":true' not in body:
                raise RuntimeError(f"{head[:40]!r} {body[:200]!r}")
            out.append(elapsed)
    finally:
        writer.close()


async def _load(port, requests, next_index, clients: int, seconds: float) -> dict:
    warm: list[float] = []
    until = time.perf_counter() + 1.0
    await asyncio.gather(
        *(_client(port, requests, next_index, until, warm) for _ in range(clients))
    )
    samples: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_client(port, requests, next_index, until, samples) for _ in range(clients))
    )
    wall = time.perf_counter() - started
    return {**percentiles(samples), "rps": len(samples) / wall}


def bench_http(location: str, scorer_folder: Path, events: list[dict], seconds: float) -> dict:
    server, log, port, token = start_service(
        ["--pipeline", "fraud", "--model-dir", str(scorer_folder), "--online", location]
    )
    try:
        requests = []
        for event in events:
            body = json.dumps(event).encode()
            requests.append(
                (
                    f"POST /score HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: "
                    f"application/json\r\nauthorization: Bearer {token}\r\n"
                    f"content-length: {len(body)}\r\n\r\n"
                ).encode()
                + body
            )
        next_index = itertools.count()
        results = {}
        for clients in (1, 8):
            rounds = [
                asyncio.run(_load(port, requests, next_index, clients, seconds)) for _ in range(3)
            ]
            results[clients] = median_of_rounds(rounds)
        results["requests_used"] = next(next_index)
        return results
    finally:
        stop_service(server, log)


# --- the run -------------------------------------------------------------------------------


def run_store(kind: str, cfg, args, lake: dict, folder: Path, workdir: Path, redis_url: str):
    from mlgate.online.bootstrap import bootstrap_file
    from mlgate.online.redis_store import RedisStore, bootstrap_redis, namespace_of
    from mlgate.online.store import EmbeddedStore

    quiet = lambda line: print(f"  {line}", flush=True)  # noqa: E731
    print(f"[{kind}] bootstrap of {args.entities:,} entities", flush=True)
    if kind == "embedded":
        location = str(workdir / "state.db")
        built = bootstrap_file(cfg, Path(location), AS_OF, progress=quiet)
        store = EmbeddedStore(location)
        size = Path(location).stat().st_size
    else:
        location = redis_url
        built = bootstrap_redis(cfg, location, AS_OF, progress=quiet)
        store = RedisStore(location, namespace=namespace_of(cfg.name))
        size = store.memory_bytes()
    sizes = store.sizes()
    round_trip = None
    if kind == "redis":  # what one request to Redis costs on this machine, for scale
        pings = []
        for _ in range(2_000):
            started = time.perf_counter()
            store.db.ping()
            pings.append(time.perf_counter() - started)
        round_trip = percentiles(pings)
    result = {
        "round_trip": round_trip,
        "bootstrap": {
            "seconds": built.seconds,
            "entities": built.entities,
            "events": built.events,
            "dimension_keys": built.dimension_keys,
        },
        "bytes_total": size,
        "bytes_per_entity": size / sizes["history"],
        **typical_history_bytes(store, args.entities),
    }
    in_process_events = new_events(
        args.events, args.entities, lake["merchants"], lake["next_key"], seed=1
    )
    print(f"[{kind}] in process: {args.events:,} events", flush=True)
    result["in_process"] = bench_in_process(cfg, store, folder, in_process_events)
    store.close()
    http_events = new_events(
        args.http_events, args.entities, lake["merchants"], lake["next_key"] + args.events, seed=2
    )
    print(f"[{kind}] HTTP: 1 and 8 clients, {args.seconds} s x 3 rounds", flush=True)
    result["http"] = bench_http(location, folder, http_events, args.seconds)
    return result


def render(r: dict) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.2f} ms"

    rows = []
    for kind in [k for k in ("embedded", "redis") if k in r]:
        s = r[kind]
        ip, h1, h8 = s["in_process"]["score"], s["http"][1], s["http"][8]
        rows.append(
            f"| {kind} | {ms(ip['p50'])} / {ms(ip['p99'])} | {ip['events_per_s']:,.0f} | "
            f"{s['in_process']['ingest_events_per_s']:,.0f} | "
            f"{ms(h1['p50'])} / {ms(h1['p99'])} ({h1['rps']:,.0f}/s) | "
            f"{ms(h8['p50'])} / {ms(h8['p99'])} ({h8['rps']:,.0f}/s) | "
            f"{s['bytes_per_entity']:,.0f} B ({s['median_history_bytes']:,} B) | "
            f"{s['bootstrap']['seconds']:.0f} s |"
        )
    e = r.get("embedded") or r["redis"]
    ping = r.get("redis", {}).get("round_trip")
    ping_text = (
        f" A Redis PING from this process takes {ms(ping['p50'])} (p99 {ms(ping['p99'])}) on "
        "this machine; an event costs two round trips (read, then the update script) and, "
        "with `appendfsync always`, a flush of Redis's log."
        if ping
        else ""
    )
    goals = r["goals"]
    verdicts = r["verdicts"]
    lines = [
        f"## {SECTION}",
        "",
        f"`make bench-online` ({r['when']}; {r['machine']['nproc']} cores, "
        f"{r['machine']['cpu']}; load before: {r['machine']['load']}). A state of "
        f"{e['bootstrap']['entities']:,} cards ({e['bootstrap']['events']:,} events of the "
        f"{LOOKBACK_DAYS} days before the moment, {e['bootstrap']['dimension_keys']:,} "
        "dimension keys) bootstrapped from a synthetic fraud lake with the fraud pipeline's "
        f"spec; the model: the demo champion's ONNX twin ({r['model']}). One event: JSON "
        "parsed, record rules, dimension joins, every feature from the state, ONNX score, "
        "state update committed (`EventScoring.score`, the service's own path).",
        "",
        "| store | in process p50 / p99 | events/s scored | events/s ingested | "
        "HTTP 1 client p50 / p99 | HTTP 8 clients p50 / p99 | state per entity (typical history) "
        "| bootstrap 1M |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Goals: in-process p99 ≤ "
        f"{goals['in_process_p99_ms']} ms: {verdicts['in_process']}; HTTP p99 with one client ≤ "
        f"{goals['http_p99_ms']} ms: {verdicts['http']}; ≥ {goals['events_per_s']:,} events/s "
        f"ingested per process: {verdicts['events']}; ≤ {goals['bytes_per_entity']:,} bytes of "
        f"state per typical entity: {verdicts['bytes']}; bootstrap of 1M entities ≤ "
        f"{goals['bootstrap_s']} s: {verdicts['bootstrap']}.",
        "",
        "State per entity is the whole store divided by the entities: the embedded file's "
        "bytes (histories, dimension rows, SQLite's pages), Redis's "
        "MEMORY USAGE of the namespace; in brackets the median stored history of one entity "
        "(7-day windows of count and sum, 14 days of novelty and mean)." + ping_text,
        "The figures: docs/bench/online.json.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--events-per-entity", type=float, default=4.0)
    parser.add_argument("--events", type=int, default=20_000, help="in-process events")
    parser.add_argument("--http-events", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per HTTP round")
    parser.add_argument("--stores", default="embedded,redis")
    parser.add_argument("--write", type=Path, help="docs/benchmarks.md to update")
    args = parser.parse_args()

    from mlgate.config import load_pipeline

    cfg = load_pipeline("fraud")
    mlflow, version, run = champion(cfg)
    workdir = Path(tempfile.mkdtemp(prefix="mlgate-bench-online-"))
    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path="onnx", dst_path=str(workdir / "model")
        )
    )
    model = f"{cfg.model_name} version {version.version}"
    # the lake and the states live in their own state folder: the demo's stays untouched
    os.environ["MLGATE_STATE"] = str(workdir / "state")
    print(f"writing a lake of {args.entities:,} cards in {workdir}", flush=True)
    started = time.monotonic()
    lake = write_lake(cfg, args.entities, args.events_per_entity, seed=7)
    print(f"  {lake['events']:,} events in {time.monotonic() - started:.0f} s", flush=True)
    from support.redis_server import RedisServer

    results = {"when": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine()}
    results["model"], results["goals"] = model, GOALS
    try:
        with RedisServer.start() as redis:
            for kind in args.stores.split(","):
                results[kind] = run_store(kind, cfg, args, lake, folder, workdir, redis.url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the lake and the states: about 2 GB
    kinds = [k for k in ("embedded", "redis") if k in results]
    results["verdicts"] = {
        goal: "; ".join(f"{kind} {met(check(results[kind]))}" for kind in kinds)
        for goal, check in VERDICTS.items()
    }
    publish(render(results), SECTION, args.write)
    if args.write:
        out = args.write.parent / "bench" / "online.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


VERDICTS = {  # goal -> is it met by one store's figures
    "in_process": lambda s: s["in_process"]["score"]["p99"] * 1e3 <= GOALS["in_process_p99_ms"],
    "http": lambda s: s["http"][1]["p99"] * 1e3 <= GOALS["http_p99_ms"],
    "events": lambda s: s["in_process"]["ingest_events_per_s"] >= GOALS["events_per_s"],
    "bytes": lambda s: s["median_history_bytes"] <= GOALS["bytes_per_entity"],
    "bootstrap": lambda s: s["bootstrap"]["seconds"] <= GOALS["bootstrap_s"],
}


if __name__ == "__main__":
    sys.exit(main())
