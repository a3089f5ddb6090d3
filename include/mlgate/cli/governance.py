"""`mlgate champion`, `history`, `rollback` and `aliases`: which model is in production, and why."""

from __future__ import annotations

import json
import sys

from mlgate.cli.common import add_pipeline_option, load_pipeline_or_exit, pipeline_name


def cmd_champion(args) -> int:
    from mlgate.registry import NoChampionError, champion_info

    cfg = load_pipeline_or_exit(args)
    try:
        info = champion_info(cfg.model_name, pipeline=cfg.name)
    except NoChampionError as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    if info["aliases"]["problem"]:
        print(f"WARNING: {info['aliases']['problem']}\n")
    m = info["metrics"]
    lines = [
        f"model        {info['model_name']} version {info['version']} (alias champion)",
        f"family       {info['model_family']}",
        f"promoted     {info['promoted_at']} by {info['promoted_by']}",
        f"trained for  {info['trained_for_ds']} by {info['airflow']['dag_id']} "
        f"run {info['airflow']['run_id']} (triggered by {info['airflow']['triggered_by']})",
        "data window  " + ", ".join(f"{k} {v}" for k, v in info["data_window"].items()),
        f"git commit   {info['git_commit']}",
        "holdout      "
        + ", ".join(
            f"{k} {m[k]:.4f}"
            for k in ("auc_pr", "roc_auc", "recall_at_threshold", "precision_at_threshold")
            if k in m
        ),
        f"             {int(m.get('holdout_rows', 0)):,} rows, "
        f"{int(m.get('holdout_positives', 0)):,} positives",
        f"mlflow run   {info['run_id']}",
        f"gates        {info.get('gates_artifact') or '-'}",
        f"artefacts    {info['artifact_uri']}",
        f"tracking     {info['tracking_uri']}",
    ]
    print("\n".join(lines))
    if info.get("gates"):
        from mlgate.gates import GateReport

        print("\ngates of this version:")
        print(GateReport.from_dict(info["gates"]).text_table())
    return 0


def cmd_history(args) -> int:
    from mlgate.registry import read_history

    entries = read_history(pipeline_name(args))[-args.limit :]
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    if not entries:
        print("no promotion yet")
        return 0
    for entry in entries:
        if entry["action"] == "promote":
            overrides = entry.get("overrides") or []
            extra = f"; OVERRIDDEN {overrides}: {entry.get('override_reason')}" if overrides else ""
            was = f"was v{entry['previous']}" if entry.get("previous") else "first champion"
            auc_pr = (entry.get("metrics") or {}).get("auc_pr")
            quality = f"AUC-PR {auc_pr:.4f}" if auc_pr is not None else "AUC-PR -"
            approval = entry.get("approval")
            if approval:
                extra += f"; approved by {approval['by']} at {approval['at']}"
            print(
                f"{entry['at']}  promote   v{entry['version']} ({was}) ds {entry.get('ds')} "
                f"by {entry.get('by')} [{entry.get('triggered_by')}] {quality}{extra}"
            )
        elif entry["action"] == "reject":
            approval = entry.get("approval") or {}
            who = (
                "nobody answered in time"
                if approval.get("timed_out")
                else f"rejected by {approval.get('by')} at {approval.get('at')}"
            )
            comment = f": {approval['comment']}" if approval.get("comment") else ""
            print(
                f"{entry['at']}  reject    v{entry['version']} ds {entry.get('ds')} "
                f"by {entry.get('by')}: {who}{comment}"
            )
        elif entry["action"] == "rollback":
            print(
                f"{entry['at']}  rollback  v{entry.get('previous')} -> v{entry['version']} "
                f"by {entry.get('by')}: {entry.get('reason')}"
            )
        else:  # an operator's answer to aliases moved outside mlgate (`mlgate aliases`)
            print(
                f"{entry['at']}  {entry['action']:<8}  champion v{entry['version']}, previous "
                f"v{entry.get('previous')} (registry had {entry.get('registry_had')}) "
                f"by {entry.get('by')}: {entry.get('reason')}"
            )
    return 0


def cmd_rollback(args) -> int:
    import getpass

    from mlgate.registry import PromotionError, rollback

    cfg = load_pipeline_or_exit(args)
    try:
        entry = rollback(
            cfg.name, cfg.model_name, reason=args.reason, by=f"cli:{getpass.getuser()}"
        )
    except PromotionError as error:
        print(f"mlgate rollback: {error}", file=sys.stderr)
        return 2
    print(
        f"{cfg.model_name}: champion is now version {entry['version']} "
        f"(was {entry['previous']}); recorded in the promotion history"
    )
    return 0


def cmd_aliases(args) -> int:
    import getpass

    from mlgate.registry import (
        ACCEPT,
        RESTORE,
        PromotionError,
        check_aliases,
        resolve_aliases,
    )

    cfg = load_pipeline_or_exit(args)
    how = RESTORE if args.restore else ACCEPT if args.accept else None
    if how is None:
        check = check_aliases(cfg.name, cfg.model_name)
        if args.json:
            print(json.dumps(check.to_dict(), indent=2))
        else:
            for alias in ("champion", "previous"):
                found, recorded = check.registry[alias], check.ledger[alias]
                print(
                    f"{alias:<9} registry {f'v{found}' if found else '-'}, "
                    f"ledger {f'v{recorded}' if recorded else '-'}"
                )
            if check.pending:
                print(f"unfinished {check.pending.action}: the next promotion finishes it")
            print(check.describe() if check.moved else "the registry agrees with the ledger")
        return 1 if check.moved else 0
    if not args.reason:
        print(f"mlgate aliases: --{how} needs --reason (why; it is recorded)", file=sys.stderr)
        return 2
    try:
        entry = resolve_aliases(
            cfg.name, cfg.model_name, how=how, reason=args.reason, by=f"cli:{getpass.getuser()}"
        )
    except PromotionError as error:
        print(f"mlgate aliases: {error}", file=sys.stderr)
        return 2
    print(
        f"{cfg.model_name}: champion v{entry['version']}, previous v{entry['previous']} "
        f"({how}d; recorded in the promotion ledger)"
    )
    return 0


def add_parsers(sub) -> None:
    champion = sub.add_parser(
        "champion",
        help="the production model: version, metrics, lineage",
        description="Which model version carries the `champion` alias, when and by which run "
        "it was promoted, its holdout metrics, its data window and where its artefacts are.",
    )
    add_pipeline_option(champion)
    champion.add_argument("--json", action="store_true", help="one JSON object instead of text")
    champion.set_defaults(func=cmd_champion)

    history = sub.add_parser(
        "history",
        help="every promotion and rollback",
        description="The append-only promotion history: who or what promoted or rolled back "
        "which version, when, with which gate table, overrides and reasons.",
    )
    add_pipeline_option(history)
    history.add_argument("--json", action="store_true", help="the raw entries as JSON")
    history.add_argument("--limit", type=int, default=50, help="newest N entries (default 50)")
    history.set_defaults(func=cmd_history)

    rollback = sub.add_parser(
        "rollback",
        help="move champion back to the previous version",
        description="Move the `champion` alias back to the `previous` version and record it, "
        "with your reason, in the promotion history.",
    )
    add_pipeline_option(rollback)
    rollback.add_argument("--reason", required=True, help="why (at least 10 characters)")
    rollback.set_defaults(func=cmd_rollback)

    aliases = sub.add_parser(
        "aliases",
        help="compare the registry's aliases with the promotion ledger; resolve a moved alias",
        description="Without options: show `champion` and `previous` in the registry and in "
        "the promotion ledger (exit 1 when they disagree: an alias was moved outside mlgate, "
        "and promotion and serving refuse until it is resolved). --restore moves the aliases "
        "back to the ledger's versions; --accept records the registry's versions as your "
        "decision. Both need --reason and are recorded in the ledger (`mlgate history`).",
    )
    add_pipeline_option(aliases)
    resolution = aliases.add_mutually_exclusive_group()
    resolution.add_argument(
        "--restore", action="store_true", help="move the aliases back to the ledger's versions"
    )
    resolution.add_argument(
        "--accept", action="store_true", help="keep the registry's versions, record them"
    )
    aliases.add_argument("--reason", help="why (at least 10 characters; recorded)")
    aliases.add_argument("--json", action="store_true", help="the comparison as JSON")
    aliases.set_defaults(func=cmd_aliases)
