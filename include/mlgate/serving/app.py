"""`mlgate serve`: the champion's portable (ONNX) twin behind an HTTP JSON API.

Endpoints (all but /health, /metrics and /docs need ``Authorization: Bearer <token>``;
a request body must be JSON and at most ``max_body_bytes``: ``mlgate.serving.guard``):

- ``POST /score``: one row (a JSON object) or many (a JSON array of at most ``max_rows``
  objects), the model-input fields by name. Numbers must be finite JSON numbers within the
  feature spec's range of the field, categories JSON strings; a missing, null, mistyped
  or out-of-range field is a 422 that names the field (and the row of an array); a body
  that is not JSON at all is a 400. Unknown fields are ignored; an unseen category is
  scored in the model's unknown bucket, as Spark does. The answer carries the
  probability, the decision at the operating threshold (``probability >= threshold``)
  and the model version that computed it.
- ``GET /health``: 200 with the model version when a model is loaded, else 503.
- ``GET /model``: the loaded model's spec: fields, vocabularies, threshold, run.
- ``POST /reload``: look for a new champion now (also done every ``poll_seconds``).
- ``GET /metrics``: Prometheus text format.

A new champion is loaded in a worker thread while requests keep being served by the old
one; the switch is one reference assignment, and each request uses the model it started
with from validation to response, so no request is dropped or mixes two models.

Stack: FastAPI (Starlette) on uvicorn with uvloop and httptools; ONNX Runtime with one
intra-op thread (lowest one-row latency); pydantic-core validates the raw JSON bytes;
orjson writes the answer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Protocol

import numpy as np
from fastapi import FastAPI, Request
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from starlette.responses import Response
from typing_extensions import TypedDict

from mlgate.config.features import ValueRange
from mlgate.errors import is_permanent
from mlgate.export.portable import PortableModelError, PortableScorer
from mlgate.serving.events import EventScoring, add_event_routes
from mlgate.serving.guard import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ROWS,
    RequestGuard,
    json_response,
)
from mlgate.serving.metrics import Metrics
from mlgate.serving.rollout import RolloutSpec

log = logging.getLogger("mlgate.serve")

BIG_BATCH = 512  # rows from which scoring leaves the event loop for a worker thread
ENDPOINTS = frozenset(
    {"/score", "/score/features", "/events", "/health", "/model", "/reload", "/metrics"}
)

InputRanges = dict[str, ValueRange]  # field -> (lowest, highest): FeatureSpec.input_ranges


class ModelSource(Protocol):
    """Where the served model comes from: which version is current, and how to load it."""

    description: str

    def current(self) -> tuple[str, str] | None:
        """(version, run id) of the model that should be served, or None if there is none."""

    def load(self, version: str, run_id: str, threads: int) -> PortableScorer: ...


@dataclass
class RegistrySource:
    """The version behind an MLflow registry alias (``champion``) and its run's ONNX twin."""

    model_name: str
    alias: str = "champion"
    pipeline: str | None = None  # its promotion ledger must agree with the registry

    @property
    def description(self) -> str:
        return f"models:/{self.model_name}@{self.alias}"

    def current(self) -> tuple[str, str] | None:
        from mlflow.exceptions import MlflowException

        from mlgate.registry import AliasesMovedError, check_aliases, configure_mlflow

        client = configure_mlflow().MlflowClient()
        if self.pipeline is not None:  # never load a version moved in outside mlgate
            check = check_aliases(self.pipeline, self.model_name)
            if check.moved:
                raise AliasesMovedError(check.describe())
            if self.alias in check.registry:
                # the version checked is the version loaded: a second read of the alias
                # would leave a window for a move outside mlgate to slip in unchecked
                version = check.registry[self.alias]
                if version is None:
                    return None
                return version, client.get_model_version(self.model_name, version).run_id
        try:
            found = client.get_model_version_by_alias(self.model_name, self.alias)
        except MlflowException:
            return None
        return str(found.version), found.run_id

    def load(self, version: str, run_id: str, threads: int) -> PortableScorer:
        from mlgate.export.portable import load_from_run

        return load_from_run(run_id, threads=threads)


@dataclass
class DirectorySource:
    """A fixed exported model (``model.onnx`` + ``spec.json``) in a folder."""

    folder: Path

    @property
    def description(self) -> str:
        return str(self.folder)

    def current(self) -> tuple[str, str] | None:
        return f"local:{self.folder.name}", ""

    def load(self, version: str, run_id: str, threads: int) -> PortableScorer:
        return PortableScorer.from_dir(self.folder, threads=threads)


@dataclass(frozen=True)
class ServedModel:
    """One loaded model and everything a request needs from it (swapped as one object)."""

    version: str
    run_id: str
    scorer: PortableScorer
    one: TypeAdapter
    many: TypeAdapter
    loaded_at: str

    @classmethod
    def build(
        cls, version: str, run_id: str, scorer: PortableScorer, ranges: InputRanges | None = None
    ) -> ServedModel:
        spec = scorer.spec
        ranges = ranges or {}
        fields = {name: _bounded_number(ranges.get(name)) for name in spec.numeric}
        fields.update({name: str for name in spec.categorical})
        row = TypedDict("Row", fields)  # type: ignore[misc]
        # strict: a number must be a JSON number, a category a JSON string; no NaN/inf
        row.__pydantic_config__ = ConfigDict(strict=True, allow_inf_nan=False)
        return cls(
            version=version,
            run_id=run_id,
            scorer=scorer,
            one=TypeAdapter(row),
            many=TypeAdapter(list[row]),
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def score_rows(self, rows: list[dict]) -> np.ndarray:
        return self.scorer.score_arrays(*self.arrays(rows))

    def arrays(self, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        spec = self.scorer.spec
        if len(rows) == 1:  # the common case, without per-column comprehension overhead
            row = rows[0]
            numeric = np.array([[row[name] for name in spec.numeric]], dtype=np.float64)
            categorical = np.array([[row[name] for name in spec.categorical]], dtype=object)
            return numeric, categorical
        numeric = np.array([[r[n] for n in spec.numeric] for r in rows], dtype=np.float64)
        categorical = np.array([[r[n] for n in spec.categorical] for r in rows], dtype=object)
        return numeric.reshape(len(rows), len(spec.numeric)), categorical.reshape(
            len(rows), len(spec.categorical)
        )


def _bounded_number(bounds: ValueRange | None):
    """A float field, with the feature's range as a constraint when it has one."""
    if bounds is None:
        return float
    low, high = bounds
    return Annotated[float, Field(ge=low, le=high)]


class ModelHolder:
    """The currently served model; checks the source and swaps in a new version."""

    def __init__(
        self,
        source: ModelSource,
        metrics: Metrics,
        threads: int = 1,
        input_ranges: InputRanges | None = None,
        keep_when_gone: bool = True,
    ):
        self.source = source
        self.metrics = metrics
        self.threads = threads
        self.input_ranges = input_ranges
        # the champion keeps serving when the registry has none; a canary ends with its alias
        self.keep_when_gone = keep_when_gone
        self.current: ServedModel | None = None
        self.last_error: str | None = None
        self.last_check: str | None = None
        self._lock = asyncio.Lock()

    def _check_sync(self) -> dict:
        wanted = self.source.current()
        self.last_check = datetime.now(UTC).isoformat(timespec="seconds")
        if wanted is None:
            self.last_error = f"no model at {self.source.description}"
            if not self.keep_when_gone:
                self.current = None
            return {"changed": False, "version": self._version(), "error": self.last_error}
        version, run_id = wanted
        if self.current is not None and self.current.version == version:
            return {"changed": False, "version": version}
        try:
            scorer = self.source.load(version, run_id, self.threads)
            served = ServedModel.build(version, run_id, scorer, self.input_ranges)
        except PortableModelError as error:
            self.last_error = f"version {version} cannot be served: {error}"
            self.metrics.reloads.labels("failed").inc()
            log.error("%s; still serving version %s", self.last_error, self._version())
            return {"changed": False, "version": self._version(), "error": self.last_error}
        previous = self._version()
        self.current = served  # the switch: one reference assignment
        self.last_error = None
        self.metrics.reloads.labels("loaded").inc()
        self.metrics.version.set(float(version) if version.isdigit() else -1)
        self.metrics.info.info(
            {"version": version, "run_id": run_id, "source": self.source.description}
        )
        log.info("now serving version %s (was %s)", version, previous)
        return {"changed": True, "version": version, "previous": previous}

    def _version(self) -> str | None:
        return self.current.version if self.current else None

    async def check(self) -> dict:
        """Look at the source; load a new version in a worker thread, then switch."""
        async with self._lock:
            try:
                return await asyncio.to_thread(self._check_sync)
            except Exception as error:  # the registry is unreachable: keep serving
                message = f"checking {self.source.description} failed: {error}"
                if not is_permanent(error):
                    log.exception("checking %s failed", self.source.description)
                elif message != self.last_error:  # a refusal (aliases moved): once, no trace
                    log.error("%s; still serving version %s", message, self._version())
                self.last_error = message
                return {"changed": False, "version": self._version(), "error": self.last_error}


def _problems(error: ValidationError, many: bool) -> list[dict]:
    problems = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        row = loc.pop(0) if many and loc and isinstance(loc[0], int) else None
        problem = {
            "field": ".".join(str(p) for p in loc) or None,
            "problem": item["msg"],
            "type": item["type"],
        }
        if row is not None:
            problem["row"] = row
        problems.append(problem)
    return problems


def create_app(
    source: ModelSource,
    *,
    token: str,
    poll_seconds: float = 30.0,
    threads: int = 1,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    input_ranges: InputRanges | None = None,
    online: EventScoring | None = None,
    rollout: RolloutSpec | None = None,
):
    """The ASGI app. Loads the model at startup and polls the source in the background.

    ``token``: the bearer token every request but the open probes must carry;
    ``input_ranges``: the allowed range of numeric fields (``FeatureSpec.input_ranges``);
    ``online``: raw events at ``POST /score`` and ``POST /events`` (``mlgate.serving.events``);
    ``rollout``: a canary beside the champion (``mlgate.serving.rollout``);
    precomputed features are always taken at ``POST /score/features``.
    """
    metrics = Metrics()
    if getattr(source, "pipeline", None):  # the monitor's figures next to the service's
        from mlgate.serving.monitoring import MonitorCollector

        metrics.registry.register(MonitorCollector(source.pipeline))
    holder = ModelHolder(source, metrics, threads, input_ranges)
    canary = None if rollout is None else rollout.build(metrics, threads, input_ranges, ModelHolder)
    holders = [holder] if canary is None else [holder, canary.holder]
    # label children bound once: no label lookup on the hot path
    features_path = "/score/features" if online else "/score"  # where features are scored
    score_200 = metrics.requests.labels(features_path, "200")
    score_400 = metrics.requests.labels(features_path, "400")
    score_413 = metrics.requests.labels(features_path, "413")
    score_422 = metrics.requests.labels(features_path, "422")
    score_seconds = metrics.latency.labels(features_path)

    async def poll():
        while True:
            await asyncio.sleep(poll_seconds)
            for each in holders:
                try:
                    await each.check()
                except Exception:  # a registry hiccup must not kill the poller
                    log.exception("checking %s failed", each.source.description)

    @asynccontextmanager
    async def lifespan(_app):
        for each in holders:
            try:
                await each.check()
            except Exception as error:
                each.last_error = f"{type(error).__name__}: {error}"
                log.exception("loading the first model of %s failed", each.source.description)
        # the app and the model live as long as the process: keep them out of the
        # garbage collector's scans (shorter pauses, a steadier p99)
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(poll()) if poll_seconds > 0 else None
        yield
        if task:
            task.cancel()

    app = FastAPI(
        title="mlgate scoring service",
        description="The champion's portable (ONNX) twin: POST /score one or many transactions.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.holder = holder
    app.state.metrics = metrics

    def rejected(path: str, status: int) -> None:
        # unknown paths share one label: a scanner must not grow the metrics without bound
        metrics.requests.labels(path if path in ENDPOINTS else "other", str(status)).inc()

    app.add_middleware(RequestGuard, token=token, max_body_bytes=max_body_bytes, rejected=rejected)

    def unavailable(endpoint: str):
        metrics.requests.labels(endpoint, "503").inc()
        return json_response(
            {"error": "no model loaded", "reason": holder.last_error, "source": source.description},
            503,
        )

    @app.post(
        "/score/features",
        summary="Score one row (object) or many (array of objects) of model features",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
            }
        },
    )
    async def score(request: Request):
        started = time.perf_counter()
        model = holder.current  # this request's model, whatever happens meanwhile
        if model is None:
            return unavailable(features_path)
        body = await request.body()
        many = body.lstrip()[:1] == b"["
        try:
            rows = model.many.validate_json(body) if many else [model.one.validate_json(body)]
        except ValidationError as error:
            problems = _problems(error, many)
            if all(p["type"] == "json_invalid" for p in problems):
                score_400.inc()
                return json_response(
                    {"error": "the body is not valid JSON", "problems": problems}, 400
                )
            score_422.inc()
            return json_response({"error": "invalid row", "problems": problems}, 422)
        if not rows:
            score_422.inc()
            return json_response({"error": "empty array: nothing to score"}, 422)
        if len(rows) > max_rows:
            score_413.inc()
            return json_response(
                {
                    "error": f"{len(rows):,} rows; at most {max_rows:,} per request "
                    "(mlgate serve --max-rows): split the batch",
                    "max_rows": max_rows,
                },
                413,
            )
        if len(rows) >= BIG_BATCH:  # keep the event loop free for the small requests
            probabilities = await asyncio.to_thread(model.score_rows, rows)
        else:
            probabilities = model.score_rows(rows)
        threshold = model.scorer.spec.operating_threshold
        versions = thresholds = None
        if canary is not None and canary.holder.current is not None:
            probabilities, versions, thresholds = canary.answer(
                model, probabilities, canary.keys(body, len(rows)), lambda c: c.score_rows(rows)
            )
        if many:
            payload = {
                "model_version": model.version,
                "threshold": threshold,
                "results": [
                    {"probability": p, "decision": p >= threshold} for p in probabilities.tolist()
                ],
            }
            if versions is not None:  # during a canary rollout each row says who answered
                for result, v, t in zip(payload["results"], versions, thresholds):
                    result.update(decision=result["probability"] >= t, model_version=v, threshold=t)
        else:
            p = float(probabilities[0])
            version, threshold = (
                (versions[0], thresholds[0]) if versions else (model.version, threshold)
            )
            payload = {
                "probability": p,
                "decision": p >= threshold,
                "threshold": threshold,
                "model_version": version,
            }
        response = json_response(payload)
        metrics.scores.observe(probabilities)
        metrics.rows.inc(len(rows))
        score_200.inc()
        score_seconds.observe(time.perf_counter() - started)
        return response

    if online is None:
        app.post("/score", summary="Score model features (as POST /score/features)")(score)
    else:
        add_event_routes(app, online, holder, metrics, unavailable, canary)

    @app.get("/health", summary="200 when a model is loaded, 503 otherwise")
    async def health():
        model = holder.current
        if model is None:
            return unavailable("/health")
        metrics.requests.labels("/health", "200").inc()
        return json_response(
            {
                "status": "ok",
                "model_version": model.version,
                "run_id": model.run_id,
                "source": source.description,
                "loaded_at": model.loaded_at,
                "last_check": holder.last_check,
                "last_error": holder.last_error,
                **({"rollout": canary.status()} if canary is not None else {}),
            }
        )

    @app.get("/model", summary="The served model's input spec, vocabularies and threshold")
    async def model_spec():
        model = holder.current
        if model is None:
            return unavailable("/model")
        metrics.requests.labels("/model", "200").inc()
        return json_response(
            {
                "model_version": model.version,
                "run_id": model.run_id,
                **model.scorer.spec.to_dict(),
            }
        )

    @app.post("/reload", summary="Look for a new champion now and switch to it")
    async def reload():
        started = time.perf_counter()
        result = await holder.check()
        if canary is not None:  # a rollout's start and end are seen at once too
            result["canary"] = await canary.holder.check()
        metrics.requests.labels("/reload", "200").inc()
        metrics.latency.labels("/reload").observe(time.perf_counter() - started)
        return json_response(result, 200 if holder.current is not None else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(
    source: ModelSource,
    *,
    token: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    poll_seconds: float = 30.0,
    threads: int = 1,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    input_ranges: InputRanges | None = None,
    log_level: str = "info",
    access_log: bool = False,
    online: EventScoring | None = None,
    rollout: RolloutSpec | None = None,
) -> None:
    """Run the service in this process until interrupted (SIGINT / SIGTERM)."""
    import uvicorn

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(
        source,
        token=token,
        poll_seconds=poll_seconds,
        threads=threads,
        max_rows=max_rows,
        max_body_bytes=max_body_bytes,
        input_ranges=input_ranges,
        online=online,
        rollout=rollout,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
    )
    log.info("serving %s on http://%s:%s", source.description, host, port)
    uvicorn.Server(config).run()
