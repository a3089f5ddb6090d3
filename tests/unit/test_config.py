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
