"""Config validation: the default file loads, and each kind of mistake names the bad key."""

from __future__ import annotations

import copy

import pytest
import yaml

from mlgate.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    duration_seconds,
    load_config,
    parse_config,
)


@pytest.fixture()
def raw():
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def test_default_config_loads():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert cfg.training.family == "random_forest"
    assert cfg.features.window_seconds() == {"1h": 3600, "24h": 86400, "7d": 604800}


def test_unknown_family_names_key_and_allowed_values(raw):
    raw["training"]["family"] = "xgboost"
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert "training.family" in message
    assert (
        "'random_forest'" in message and "'gbt'" in message and "'logistic_regression'" in message
    )
    assert "xgboost" in message


def test_misspelt_key_is_reported(raw):
    raw["training"]["holdout_dayz"] = 7
    with pytest.raises(ConfigError, match=r"training.holdout_dayz: unknown key"):
        parse_config(raw)


def test_missing_key_is_reported(raw):
    del raw["source"]["events"]["time_column"]
    with pytest.raises(ConfigError, match=r"source.events.time_column: Field required"):
        parse_config(raw)


def test_sql_injection_in_a_table_name_is_refused(raw):
    raw["source"]["events"]["table"] = "transactions; drop table cards"
    with pytest.raises(ConfigError, match=r"source.events.table: .*not a plain table"):
        parse_config(raw)


def test_bad_duration(raw):
    raw["features"]["windows"] = ["1h", "1 week"]
    with pytest.raises(ConfigError, match=r"features.windows.*'1 week' is not a duration"):
        parse_config(raw)


def test_window_too_short_for_holdout(raw):
    raw["window"]["training_days"] = 12  # 12 - 10 maturity = 2 labelled days < 7 + 1 + 1
    with pytest.raises(ConfigError, match=r"leaves 2 labelled days, fewer than .* = 9"):
        parse_config(raw)


def test_feature_history_shorter_than_lookback(raw):
    raw["window"]["feature_history_days"] = 3  # amount_history is 14d
    with pytest.raises(ConfigError, match=r"feature_history_days \(3\) is shorter than .*14 days"):
        parse_config(raw)


def test_join_on_unlisted_dimension(raw):
    raw["features"]["joins"].append({"table": "devices", "key": "device_id", "columns": ["risk"]})
    with pytest.raises(ConfigError, match=r"'devices', which is not in source.dimensions"):
        parse_config(raw)


def test_grid_must_cover_chosen_family(raw):
    del raw["training"]["grid"]["gbt"]
    raw["training"]["family"] = "gbt"
    with pytest.raises(ConfigError, match=r"training.grid has no entry for the chosen family"):
        parse_config(raw)


def test_with_family_revalidates(raw):
    cfg = parse_config(copy.deepcopy(raw))
    assert cfg.with_family("gbt").training.family == "gbt"
    with pytest.raises(Exception, match="family"):
        cfg.with_family("svm")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_duration_seconds():
    assert duration_seconds("90s") == 90
    assert duration_seconds("15m") == 900
    assert duration_seconds("2d") == 172800


def test_a_bad_record_bound_without_record_rules_is_refused(raw):
    del raw["records"]
    with pytest.raises(ConfigError, match=r"bad_record_ratio .* add a records: section"):
        parse_config(raw)
    del raw["gates"]["bad_record_ratio"]
    assert parse_config(raw).records is None  # no rules, no bound: nothing is quarantined


def test_record_rules_are_the_cleaning_policy_and_the_gate_only_the_bound(raw):
    cfg = parse_config(raw)
    assert cfg.records.amount_column == "amount"
    assert "USD" in cfg.records.currencies
    assert cfg.gates.bad_record_ratio.model_dump() == {"mode": "block", "max_ratio": 0.01}
    raw["gates"]["bad_record_ratio"]["currencies"] = ["USD"]
    with pytest.raises(ConfigError, match=r"gates.bad_record_ratio.currencies: unknown key"):
        parse_config(raw)


def _set(raw: dict, dotted: str, value) -> dict:
    """`raw` with the value at a dotted key (e.g. gates.quality.confidence) replaced."""
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[last] = value
    return raw


LASTMODIFIED_WITHOUT_KEY = {"table": "accounts", "mode": "lastmodified", "check_column": "u"}


def _incremental(*specs: tuple[str, str | None]) -> list[dict]:
    return [
        {"table": table, "mode": "append", "check_column": "id", **({"target": t} if t else {})}
        for table, t in specs
    ]


GT, GE = "Input should be greater than", "Input should be greater than or equal to"
LT, LE = "Input should be less than", "Input should be less than or equal to"
ALREADY_HOLDS = (
    "already holds the day partitions of events/labels/dimensions; set a distinct target"
)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "source.events.query",
            "SELECT * FROM transactions",
            "Value error, a free-form query must contain the placeholder $CONDITIONS where "
            "mlgate puts its conditions (window, split range), e.g. "
            "'SELECT t.* FROM transactions t WHERE $CONDITIONS'",
        ),
        ("source.events.splits", 0, f"{GE} 1"),
        ("source.events.splits", 33, f"{LE} 32"),
        # rules across the keys of an import, or across imports: reported at what holds them
        (
            "source.incremental",
            [LASTMODIFIED_WITHOUT_KEY],
            "source.incremental.0: Value error, mode lastmodified merges changed rows into the "
            "lake by key: set key",
        ),
        (
            "source.incremental",
            _incremental(("a", "log"), ("b", None), ("c", "log")),
            "source: Value error, incremental.2: target 'log' is used twice",
        ),
        (
            "source.incremental",
            _incremental(("accounts", None), ("accounts", None)),
            "source: Value error, incremental.1: target 'accounts' is used twice",
        ),
        (
            "source.incremental",
            _incremental(("chargebacks", None)),
            f"source: Value error, incremental.0: lake folder 'chargebacks' {ALREADY_HOLDS}",
        ),
        (
            "source.incremental",
            _incremental(("accounts", "cards")),
            f"source: Value error, incremental.0: lake folder 'cards' {ALREADY_HOLDS}",
        ),
        (
            "source.incremental",
            _incremental(("accounts", "transactions")),
            f"source: Value error, incremental.0: lake folder 'transactions' {ALREADY_HOLDS}",
        ),
        ("gates.bad_record_ratio.max_ratio", -0.01, f"{GE} 0"),
        ("gates.bad_record_ratio.max_ratio", 1.5, f"{LE} 1"),
        ("gates.quality.confidence", 1.0, f"{LT} 1"),
        ("gates.quality.confidence", 0.5, f"{GT} 0.5"),
        ("gates.quality.max_drop", -0.01, f"{GE} 0"),
        ("gates.quality.max_jump", 0, f"{GT} 0"),
        ("gates.quality.bootstrap_samples", 19, f"{GE} 20"),
        ("gates.quality.floor", {}, "Dictionary should have at least 1 item"),
        (
            "gates.quality.compare_metric",
            "f1",
            "Input should be 'auc_pr', 'roc_auc', 'recall_at_threshold' or 'cost' (got 'f1')",
        ),
        ("gates.quality.cost_false_negative", -1, f"{GE} 0"),
        ("gates.shadow.max_psi", 0, f"{GT} 0"),
        ("gates.shadow.max_flip_rate", 1.1, f"{LE} 1"),
        ("gates.export_parity.max_abs_diff", 0, f"{GT} 0"),
        ("gates.data_expectations.volume_tolerance", 0, f"{GT} 0"),
        ("gates.data_expectations.volume_history_days", 0, f"{GE} 1"),
        ("gates.training_iterations.tolerance", 0, f"{GT} 0"),
        ("gates.training_iterations.history", 0, f"{GE} 1"),
        ("gates.quality.mode", "stop", "Input should be 'block' or 'warn' (got 'stop')"),
        ("records.currencies", [], "List should have at least 1 item"),
        ("training.operating_threshold", 1.0, f"{LT} 1"),
        ("training.negative_sample_rate", 0, f"{GT} 0"),
        ("training.holdout_days", 0, f"{GE} 1"),
        ("training.gap_days", 31, f"{LE} 30"),
        ("training.search.train_ratio", 1.0, f"{LT} 1"),
        ("label.maturity_days", -1, f"{GE} 0"),
        ("window.feature_history_days", 366, f"{LE} 365"),
        ("features.windows", [], "List should have at least 1 item"),
        (
            "features.amount_history",
            "3 weeks",
            "Value error, '3 weeks' is not a duration like 15m, 1h or 7d",
        ),
    ],
)
def test_each_rule_refuses_a_bad_value_naming_the_key(raw, key, value, message):
    # a rule on one key is reported at that key; a rule across keys (the incremental
    # imports) at the section that holds them, which the message then names
    where = "" if message.startswith(("source:", "source.incremental.0:")) else f"{key}: "
    with pytest.raises(ConfigError) as error:
        parse_config(_set(raw, key, value))
    lines = str(error.value).splitlines()
    assert lines[0] == "invalid config <config>:"
    assert len(lines) == 2 and lines[1].startswith(f"  {where}{message}"), lines


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gates.bad_record_ratio.max_ratio", 0.0),
        ("gates.bad_record_ratio.max_ratio", 1.0),
        ("gates.quality.max_drop", 0.0),
        ("gates.quality.max_drop", 1.0),
        ("gates.quality.max_jump", 1.0),
        ("gates.quality.confidence", 0.99),
        ("gates.quality.bootstrap_samples", 20),
        ("gates.quality.bootstrap_samples", 5000),
        ("gates.shadow.max_flip_rate", 0.0),
        ("gates.shadow.max_flip_rate", 1.0),
        ("gates.export_parity.max_abs_diff", 1.0),
        ("source.events.splits", 32),
        ("source.incremental", [{**LASTMODIFIED_WITHOUT_KEY, "key": "account_id"}]),
        ("source.incremental", _incremental(("accounts", None), ("accounts", "accounts_v2"))),
    ],
)
def test_values_at_the_edge_of_a_rule_are_accepted(raw, key, value):
    node = parse_config(_set(raw, key, value)).model_dump()
    for part in key.split("."):
        node = node[part]
    if key == "source.incremental":  # the parsed imports also carry the defaults they got
        node = [{k: spec[k] for k in given} for spec, given in zip(node, value, strict=True)]
    assert node == value


def test_a_cross_section_rule_is_reported_at_the_top_level(raw):
    del raw["records"]
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value) == (
        "invalid config <config>:\n"
        "  (top level): Value error, gates.bad_record_ratio judges the share of rows that break "
        "the record rules, but there are none: add a records: section (required_columns, "
        "amount_column, amount_range, currencies)"
    )


def test_every_problem_is_listed_on_its_own_line(raw):
    raw["gates"]["quality"]["confidence"] = 1.0
    raw["gates"]["shadow"]["max_psi"] = 0
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "my.yaml")
    assert str(error.value) == (
        "invalid config my.yaml:\n"
        "  gates.quality.confidence: Input should be less than 1\n"
        "  gates.shadow.max_psi: Input should be greater than 0"
    )


# The thresholds a config gets when it names a gate but not its values: docs/gates.md and
# the comments of include/config/mlgate.yaml promise these.
GATE_DEFAULTS = {
    "reconciliation": {"mode": "block", "checksum": True, "allow_empty": False},
    "bad_record_ratio": {"mode": "block", "max_ratio": 0.01},
    "data_expectations": {
        "mode": "block",
        "raw_suite": "raw_transactions",
        "features_suite": "features",
        "label_rate": (0.0005, 0.02),
        "volume_history_days": 7,
        "volume_tolerance": 0.5,
    },
    "training_iterations": {"mode": "block", "history": 5, "tolerance": 0.5},
    "assertion_set": {"mode": "block", "path": "include/assertions/fraud_assertions.yaml"},
    "quality": {
        "mode": "block",
        "floor": {"auc_pr": 0.3},  # no default: a floor is required
        "compare_metric": "auc_pr",
        "max_drop": 0.0,
        "max_jump": 0.25,
        "bootstrap_samples": 200,
        "confidence": 0.95,
        "cost_false_negative": 100.0,
        "cost_false_positive": 1.0,
    },
    "shadow": {"mode": "block", "max_psi": 0.2, "max_flip_rate": 0.01, "top_disagreements": 50},
    "export_parity": {"mode": "block", "max_abs_diff": 1e-5},
}


def test_gate_defaults_are_the_documented_thresholds(raw):
    raw["gates"] = {name: {} for name in GATE_DEFAULTS}
    raw["gates"]["quality"] = {"floor": {"auc_pr": 0.3}}
    assert parse_config(raw).gates.model_dump() == GATE_DEFAULTS


def test_a_quality_gate_without_a_floor_is_refused(raw):
    raw["gates"]["quality"] = {}
    with pytest.raises(ConfigError, match=r"gates.quality.floor: Field required"):
        parse_config(raw)


def test_the_shipped_config_sets_these_thresholds():
    gates = load_config(DEFAULT_CONFIG_PATH).gates
    assert gates.configured() == [
        "reconciliation",
        "bad_record_ratio",
        "data_expectations",
        "training_iterations",
        "assertion_set",
        "quality",
        "shadow",
        "export_parity",
    ]
    assert gates.model_dump() == {
        **GATE_DEFAULTS,
        "quality": {
            **GATE_DEFAULTS["quality"],
            "floor": {"auc_pr": 0.30, "roc_auc": 0.85},
            "max_drop": 0.02,
        },
        "shadow": {**GATE_DEFAULTS["shadow"], "mode": "warn"},
    }


def test_record_rule_defaults():
    from mlgate.config import RecordRules

    rules = RecordRules(required_columns=["id"], amount_column="amount", currencies=["USD"])
    assert (rules.amount_range, rules.currency_column) == ((0.01, 50_000.0), "currency")


def test_only_configured_gates_are_evaluated(raw):
    raw["gates"] = {"shadow": {}, "reconciliation": {}}
    del raw["records"]  # no bad-record bound, so no rules are needed
    assert parse_config(raw).gates.configured() == ["reconciliation", "shadow"]
    raw["gates"] = {}
    assert parse_config(raw).gates.configured() == []


def test_an_incremental_import_lands_under_its_target_or_its_table():
    from mlgate.config import IncrementalImport

    spec = IncrementalImport(table="accounts", mode="append", check_column="id")
    assert spec.name == "accounts"
    assert spec.model_copy(update={"target": "accounts_log"}).name == "accounts_log"


def test_source_url_takes_the_state_folder_or_the_environment(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    monkeypatch.delenv("MLGATE_SOURCE_URL", raising=False)
    source = parse_config(raw).source
    assert source.resolved_url() == f"sqlite:///{tmp_path}/source/transactions.db"
    monkeypatch.setenv("MLGATE_SOURCE_URL", "postgresql://db/x")
    assert source.resolved_url() == "postgresql://db/x"


def test_scores_url_is_the_environment_then_the_target_then_the_source(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    monkeypatch.setenv("MLGATE_SOURCE_URL", "postgresql://db/source")
    monkeypatch.delenv("MLGATE_SCORES_URL", raising=False)
    cfg = parse_config(raw)
    assert cfg.scoring.resolved_url(cfg.source) == "postgresql://db/source"
    targeted = cfg.scoring.model_copy(update={"target_url": "sqlite:///{state}/scores.db"})
    assert targeted.resolved_url(cfg.source) == f"sqlite:///{tmp_path}/scores.db"
    monkeypatch.setenv("MLGATE_SCORES_URL", "postgresql://db/scores")
    assert targeted.resolved_url(cfg.source) == "postgresql://db/scores"


def test_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    from mlgate.config import config_path

    monkeypatch.delenv("MLGATE_CONFIG", raising=False)
    assert config_path() == DEFAULT_CONFIG_PATH
    mine = tmp_path / "mine.yaml"
    mine.write_text(DEFAULT_CONFIG_PATH.read_text().replace("fraud_detector", "my_model"))
    monkeypatch.setenv("MLGATE_CONFIG", str(mine))
    assert config_path() == mine
    assert load_config().model_name == "my_model"


def test_a_config_file_that_is_not_a_mapping_or_is_invalid_is_named(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError) as error:
        load_config(listed)
    assert str(error.value) == f"config file {listed} must hold a mapping at the top level"
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(
        DEFAULT_CONFIG_PATH.read_text().replace("holdout_days: 7", "holdout_dayz: 7")
    )
    with pytest.raises(ConfigError) as error:
        load_config(invalid)
    assert str(error.value).splitlines() == [
        f"invalid config {invalid}:",
        "  training.holdout_days: Field required",
        "  training.holdout_dayz: unknown key; check its spelling against "
        "include/config/mlgate.yaml",
    ]
