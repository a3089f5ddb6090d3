"""`mlgate serve` and `mlgate score-day`: real-time and batch scoring from the command line.

mlgate serve                      the champion's ONNX twin behind an HTTP JSON API
mlgate score-day --date DAY       run the pipeline's score DAG for one day (Spark, champion)

The logic lives in mlgate.serving (app, batch) and mlgate.stages.score.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from mlgate.cli.common import add_pipeline_option, add_verbose_option, load_pipeline_or_exit

EPILOG = """\
endpoints (* needs the header Authorization: Bearer <token>):
  POST /score *  one row (JSON object) or many (JSON array, at most --max-rows); the
                 model-input fields by name: numbers as JSON numbers, categories as
                 JSON strings; Content-Type: application/json, at most --max-body-bytes.
                 A missing, mistyped or out-of-range field is a 422 naming the field
                 (and row). Answer: probability, decision (probability >= threshold),
                 threshold, model_version.
  GET  /model *  the fields, categorical vocabularies and threshold of the served model
  POST /reload * look for a new champion now (also done every --poll-seconds)
  GET  /health   200 {"status": "ok", "model_version": ...} or 503 without a model
  GET  /metrics  Prometheus: requests, latency and score histograms, model version
  GET  /docs     OpenAPI UI

rollout (the pipeline's rollout.mode canary or shadow): while a version is in rollout
(registry alias `canary`), both models score every row; in canary mode the canary answers
the rows whose entity key (the pipeline's first features.entities key, e.g. card_id: send
it with the row) falls in rollout.share, always the same for a key; in shadow mode the
champion answers all. Each answer says its model_version; both outputs of every row go to
$MLGATE_STATE/pipelines/<pipeline>/serving/outputs/ds=<day>.jsonl.

token: --token-file PATH, else $MLGATE_SERVE_TOKEN, else $MLGATE_STATE/secrets/serve-token
(generated on the first start, mode 0600). The service prints where it took it from.

example (the fraud demo pipeline):
  mlgate serve --pipeline fraud --port 8000 &
  TOKEN=$(cat state/secrets/serve-token)
  curl -s localhost:8000/model -H "authorization: Bearer $TOKEN" | python -m json.tool
  curl -s localhost:8000/score -H "authorization: Bearer $TOKEN" \\
    -H 'content-type: application/json' -d '{
    "amount": 912.5, "card_count_1h": 4, "card_count_24h": 6, "card_count_7d": 9,
    "card_amount_sum_1h": 2100.0, "card_amount_sum_24h": 2400.0,
    "card_amount_sum_7d": 2800.0, "card_amount_ratio_to_mean_14d": 7.9,
    "card_seconds_since_last_14d": 95, "card_country_is_new_14d": 1,
    "card_device_id_is_new_14d": 1, "card_merchant_id_is_new_14d": 1,
    "country_ne_home_country": 1, "hour_of_day": 3, "is_night": 1,
    "merchant_category": "electronics", "channel": "ecom", "card_type": "credit"}'

The model is the ONNX twin logged by the train job with the version behind the registry
alias `champion` (MLflow at $MLFLOW_TRACKING_URI, default: the state folder's). A new
champion is picked up without dropping requests. --model-dir serves an exported folder
(model.onnx + spec.json) instead, e.g. for a smoke test without a registry.
"""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a limit of 0 would refuse everything)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def cmd_serve(args) -> int:
    from mlgate.credentials import SecretError
    from mlgate.serving.app import DirectorySource, RegistrySource, serve
    from mlgate.serving.guard import serve_token

    input_ranges = rollout = None
    if args.model_dir:
        source = DirectorySource(Path(args.model_dir).resolve())
        if args.pipeline:  # the folder's model was trained by this pipeline: its ranges
            input_ranges = load_pipeline_or_exit(args).features.input_ranges()
    else:
        from mlgate.registry import check_aliases

        cfg = load_pipeline_or_exit(args)
        aliases = check_aliases(cfg.name, cfg.model_name)
        if aliases.moved:
            print(f"mlgate serve: not starting: {aliases.describe()}", file=sys.stderr)
            return 2
        source = RegistrySource(cfg.model_name, alias=args.alias, pipeline=cfg.name)
        input_ranges = cfg.features.input_ranges()
        if cfg.rollout.mode != "none" and args.alias == "champion":
            from mlgate.serving.rollout import RolloutSpec

            rollout = RolloutSpec(
                source=RegistrySource(cfg.model_name, alias="canary", pipeline=cfg.name),
                pipeline=cfg.name,
                mode=cfg.rollout.mode,
                share=cfg.rollout.share,
                route_by=next(iter(cfg.features.entities.values())),
            )
    online = None
    if args.online is not None:
        online = open_online(load_pipeline_or_exit(args), args.online)
        if online is None:
            return 2
    try:
        token, kept = serve_token(Path(args.token_file) if args.token_file else None)
    except SecretError as error:
        print(f"mlgate serve: no bearer token: {error}", file=sys.stderr)
        return 2
    # where the token is, never the token: this line ends up in logs
    print(
        f"bearer token (POST /score, GET /model, POST /reload): {kept}; send it as the "
        "header Authorization: Bearer <token>",
        file=sys.stderr,
        flush=True,
    )
    serve(
        source,
        token=token,
        input_ranges=input_ranges,
        max_body_bytes=args.max_body_bytes,
        host=args.host,
        port=args.port,
        poll_seconds=args.poll_seconds,
        threads=args.threads,
        max_rows=args.max_rows,
        log_level=args.log_level,
        access_log=args.access_log,
        online=online,
        rollout=rollout,
    )
    return 0


def open_online(cfg, given: str):
    """The raw-event scoring of ``cfg`` over its online state, or None (said why)."""
    import redis

    from mlgate.online.bootstrap import AS_OF_META, SPEC_META, spec_fingerprint
    from mlgate.online.redis_store import is_redis_url
    from mlgate.online.state import OnlineState
    from mlgate.online.store import StoreInUse
    from mlgate.online.stores import describe, open_store
    from mlgate.paths import online_state_location
    from mlgate.serving.events import EventScoring

    location = online_state_location(cfg.name, given or None)
    bootstrap = f"mlgate online bootstrap --pipeline {cfg.name}"
    if not is_redis_url(location) and not Path(location).exists():
        print(
            f"mlgate serve: no online state at {location}: build it: {bootstrap}", file=sys.stderr
        )
        return None
    try:
        store = open_store(cfg, location)
        meta = store.meta()
    except (StoreInUse, redis.RedisError) as error:
        print(f"mlgate serve: the online state {describe(location)}: {error}", file=sys.stderr)
        return None
    if meta.get(SPEC_META) != spec_fingerprint(cfg):
        store.close()
        print(
            f"mlgate serve: the online state at {describe(location)} was built for another "
            f"feature spec (or never bootstrapped): build it again with {bootstrap}",
            file=sys.stderr,
        )
        return None
    print(
        f"online state {describe(location)}: bootstrapped as of {meta[AS_OF_META]}; raw "
        "events at POST /score and POST /events, precomputed features at POST /score/features",
        file=sys.stderr,
        flush=True,
    )
    return EventScoring(cfg, OnlineState(cfg, store))


def cmd_score_day(args) -> int:
    from mlgate.cli.progress import run_dag_day
    from mlgate.local.embedded import EnvironmentError_, embedded_env
    from mlgate.paths import scores_partition
    from mlgate.serving.batch import SCORES_META

    cfg = load_pipeline_or_exit(args)
    try:
        env = embedded_env()
    except EnvironmentError_ as error:
        print(error, file=sys.stderr)
        return 2
    dag_id = cfg.dag_id("score")
    print(f"running DAG {dag_id} for {args.date}", flush=True)
    result = run_dag_day(
        dag_id, args.date, env, command="score-day", pipeline=cfg.name, verbose=args.verbose
    )
    if result.code != 0:
        print(
            f"{dag_id} for {args.date} FAILED (exit {result.code})",
            file=sys.stderr,
        )
        if result.log_path is not None:
            print(f"full Airflow and Spark output: {result.log_path}", file=sys.stderr)
        return result.code
    meta_path = scores_partition(cfg.name, args.date.isoformat()) / SCORES_META
    if not meta_path.exists():
        print(f"nothing scored for {args.date} (no champion yet?)")
        return 0
    meta = json.loads(meta_path.read_text())
    print(
        f"day {args.date}: {meta['rows']:,} rows scored by {meta['model_name']} version "
        f"{meta['model_version']}, {meta['flagged']:,} flagged (probability >= "
        f"{meta['threshold']}); written to table {cfg.scores_table}"
    )
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    from mlgate.serving.guard import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ROWS

    parser = sub.add_parser(
        "serve",
        help="the champion's ONNX twin behind an HTTP JSON API (POST /score)",
        description="Score rows in real time, outside Spark: an HTTP JSON API "
        "(FastAPI on uvicorn) around the ONNX twin of the model behind the registry alias "
        "`champion`, with Prometheus metrics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pipeline_option(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=30.0,
        help="look for a new champion this often; 0: only on POST /reload (default: %(default)s)",
    )
    parser.add_argument(
        "--alias", default="champion", help="registry alias to serve (default: %(default)s)"
    )
    parser.add_argument(
        "--model-dir", help="serve this exported folder (model.onnx, spec.json), not the registry"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="ONNX Runtime intra-op threads; 1 gives the lowest one-row latency "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-rows",
        type=positive_int,
        default=DEFAULT_MAX_ROWS,
        help="most rows in one POST /score, else 413 (default: %(default)s)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body, else 413 before it is read whole (default: %(default)s)",
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the bearer token from this file (mode 0600, at least 16 characters) "
        "instead of $MLGATE_SERVE_TOKEN or $MLGATE_STATE/secrets/serve-token",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="default: %(default)s",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--online",
        nargs="?",
        const="",
        metavar="STATE",
        help="score raw events at POST /score from the online feature state built by mlgate "
        "online bootstrap: a file or redis://... (default: $MLGATE_ONLINE_STATE, else "
        "$MLGATE_STATE/pipelines/<pipeline>/online/state.db); precomputed features move to "
        "POST /score/features",
    )
    parser.set_defaults(func=cmd_serve)

    score_day = sub.add_parser(
        "score-day",
        help="batch-score one day with the champion (runs the <pipeline>_score DAG)",
        description="Run the pipeline's score DAG for the data interval of one UTC day with "
        "`airflow dags test`: the day's features recomputed as for training, scored by the "
        "champion's Spark model, written with the model version to the scores table "
        "(the day's rows replaced, in one transaction). One line per task as it ends; "
        "Airflow's and Spark's full output goes to a log file in $MLGATE_STATE/logs.",
    )
    add_pipeline_option(score_day)
    score_day.add_argument(
        "--date", required=True, type=date.fromisoformat, help="the day (YYYY-MM-DD) to score"
    )
    add_verbose_option(score_day)
    score_day.set_defaults(func=cmd_score_day)
    return parser
