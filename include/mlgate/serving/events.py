"""Raw events in the scoring service: features from the online state, then the champion.

With an online state (``mlgate serve --online``), ``POST /score`` takes what the source
table holds, not model features:

- an **event target** (fraud: a transaction is scored): the raw event (the events
  table's columns). Its features come from the state (``mlgate.online.state``), the
  champion's ONNX twin scores them, and only then is the event stored in its entities'
  histories, in one transaction: the answer is sent after the update is durable, and a
  replayed event (same key) is scored again but never counted twice.
- an **entity target** (shop: a customer is scored at a moment): the observation (its
  row key, time and the entity's key), scored from the state as of its time without
  changing it; the entity's events reach the state through ``POST /events``.

``POST /events`` stores raw events without scoring them (one object or an array, stored
whole or not at all).
An event that breaks the pipeline's record rules is refused with the rules it breaks (a
422), as the lake would quarantine it, and the state does not change.
``?features=true`` adds the model inputs the answer was computed from.
"""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from mlgate.config import PipelineConfig
from mlgate.ingest.records import row_reasons
from mlgate.online.state import MAX_TRIES, OnlineState
from mlgate.online.store import StateMoved
from mlgate.serving.guard import json_response

FEATURES_PARAMETER = "features"


class EventProblem(Exception):
    """A request the online path refuses: the HTTP status and a JSON body saying why."""

    def __init__(self, status: int, payload: dict):
        super().__init__(payload.get("error", ""))
        self.status, self.payload = status, payload


def _invalid(error: str, **facts) -> EventProblem:
    return EventProblem(422, {"error": error, **facts})


class EventScoring:
    """The online path of one pipeline over its state (see the module docstring)."""

    def __init__(self, cfg: PipelineConfig, state: OnlineState):
        self.cfg, self.state = cfg, state
        self.scores_events = cfg.target.kind == "event"
        events = cfg.source.events
        # what an object must carry: the events table's key and time, or an observation's
        self.event_fields = (events.key, events.time_column)
        if self.scores_events:
            self.score_fields = self.event_fields
        else:
            entity = cfg.features.entities[cfg.target.entity.entity]
            self.score_fields = (cfg.row_key, cfg.row_time, entity)

    # --- parsing ---------------------------------------------------------------------

    def objects(self, body: bytes, *, many: bool) -> list[dict]:
        """The JSON objects of a body: one object, or (``many``) an array of objects."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise EventProblem(400, {"error": f"the body is not valid JSON: {error}"}) from None
        items = parsed if many and isinstance(parsed, list) else [parsed]
        if not many and isinstance(parsed, list):
            raise _invalid("one event per request: a JSON object (POST /events takes arrays)")
        if not items:
            raise _invalid("empty array: nothing to store")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise _invalid("an event is a JSON object of the source table's columns", row=index)
        return items

    def checked(self, item: dict, fields: tuple[str, ...], *, rules: bool) -> dict:
        """The object, once its key and time are there and (``rules``) it meets the record
        rules; else a 422 naming what is wrong."""
        missing = [name for name in fields if item.get(name) is None]
        if missing:
            raise _invalid(f"missing or null: {', '.join(missing)}", missing=missing)
        time_column = fields[1]
        moment = item[time_column]
        try:
            if not isinstance(moment, str):
                raise ValueError("not a string")
            datetime.fromisoformat(moment)
        except ValueError:
            raise _invalid(
                f"{time_column} must be an ISO 8601 time, e.g. 2026-10-31T14:03:00Z; got "
                f"{moment!r}",
                field=time_column,
            ) from None
        if rules:
            broken = row_reasons(item, self.cfg.records)
            if broken:
                raise _invalid(
                    "the event breaks the pipeline's record rules (the lake would quarantine "
                    "it); the state is unchanged",
                    reasons=broken,
                )
        return item

    # --- the work --------------------------------------------------------------------

    def score(self, body: bytes, model, *, with_features: bool, rollout=None) -> dict:
        """The answer to ``POST /score`` with ``model`` (``mlgate.serving.app.ServedModel``);
        ``rollout``: the canary beside it (``mlgate.serving.rollout.Rollout``), if any."""
        item = self.checked(
            self.objects(body, many=False)[0], self.score_fields, rules=self.scores_events
        )
        scorer = model.scorer
        for attempt in range(MAX_TRIES):
            try:
                pending = self.state.pending(item)
            except (TypeError, ValueError) as error:
                raise _invalid(f"cannot compute the features of this event: {error}") from None
            inputs = self.state.inputs(pending.scored(counted=False))
            wrong = [
                name
                for name in scorer.spec.categorical
                if inputs.get(name) is not None and not isinstance(inputs[name], str)
            ]
            if wrong:
                raise _invalid(f"categories must be JSON strings: {', '.join(wrong)}", fields=wrong)
            probability = float(scorer.score_arrays(*scorer.arrays_of_record(inputs))[0])
            if not self.scores_events:
                counted = False
                break
            try:
                counted = self.state.commit(pending).counted
                break
            except StateMoved:  # another service stored an event of its entity: again
                if attempt == MAX_TRIES - 1:
                    raise
        threshold, version = scorer.spec.operating_threshold, model.version
        if rollout is not None and rollout.holder.current is not None:
            answers, versions, thresholds = rollout.answer(
                model,
                np.array([probability]),
                [item.get(rollout.route_by)],
                lambda c: c.scorer.score_arrays(*c.scorer.arrays_of_record(inputs)),
            )
            probability, version, threshold = float(answers[0]), versions[0], thresholds[0]
        answer = {
            "key": item[self.score_fields[0]],
            "probability": probability,
            "decision": probability >= threshold,
            "threshold": threshold,
            "model_version": version,
        }
        if self.scores_events:
            # False: this key was scored and stored before (or no entity's history takes it)
            answer["counted"] = counted
        if with_features:
            answer["features"] = {name: inputs.get(name) for name in scorer.spec.fields}
        return answer

    def store(self, body: bytes) -> dict:
        """The answer to ``POST /events``: each event stored once, in the array's order."""
        items = self.objects(body, many=True)
        checked = [self.checked(item, self.event_fields, rules=True) for item in items]
        try:
            counted = sum(self.state.ingest_many(checked))
        except (TypeError, ValueError) as error:
            raise _invalid(
                f"cannot compute the features of these events: {error}; none is stored"
            ) from None
        return {"received": len(checked), "counted": counted, "replayed": len(checked) - counted}


def add_event_routes(
    app: FastAPI, online: EventScoring, holder, metrics, unavailable, rollout=None
) -> None:
    """``POST /score`` (raw event or observation) and ``POST /events`` on ``app``;
    ``holder`` is the app's ``ModelHolder``, ``unavailable`` its 503 answer, ``rollout``
    the canary beside it."""

    def answered(endpoint: str, started: float, payload: dict, status: int = 200) -> Response:
        metrics.requests.labels(endpoint, str(status)).inc()
        if status == 200:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return json_response(payload, status)

    body_schema = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        }
    }

    @app.post(
        "/score",
        summary="Score one raw event (or an entity target's observation) from the online state",
        openapi_extra=body_schema,
    )
    async def score_event(request: Request):
        started = time.perf_counter()
        model = holder.current
        if model is None:
            return unavailable("/score")
        wanted = request.query_params.get(FEATURES_PARAMETER, "").lower() in ("1", "true", "yes")
        try:
            payload = online.score(
                await request.body(), model, with_features=wanted, rollout=rollout
            )
        except EventProblem as problem:
            return answered("/score", started, problem.payload, problem.status)
        metrics.scores.observe([payload["probability"]])
        metrics.rows.inc()
        return answered("/score", started, payload)

    @app.post(
        "/events",
        summary="Store raw events in the online state without scoring them",
        openapi_extra=body_schema,
    )
    async def store_events(request: Request):
        started = time.perf_counter()
        try:
            payload = online.store(await request.body())
        except EventProblem as problem:
            return answered("/events", started, problem.payload, problem.status)
        return answered("/events", started, payload)


__all__ = ["FEATURES_PARAMETER", "EventProblem", "EventScoring", "add_event_routes"]
