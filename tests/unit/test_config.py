"""Pipeline config validation: the shipped pipelines load, and each kind of mistake names
the bad key (and, for a closed choice, the allowed values)."""

from __future__ import annotations

import copy

import pytest
import yaml

from mlgate.config import (
    PIPELINES_DIR,
    ConfigError,
    load_pipeline,
    load_pipeline_file,
    parse_pipeline,
    pipeline_names,
)


@pytest.fixture()
def raw():
    return yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())


def parse(raw):
    return parse_pipeline(raw, "fraud")


def test_the_fraud_pipeline_loads():
    cfg = load_pipeline("fraud")
    assert cfg.name == "fraud" and cfg.model_name == "fraud_detector"
    assert cfg.training.family == "random_forest"
    assert cfg.target.kind == "event" and cfg.target.name == "is_fraud"
    assert [cfg.dag_id(k) for k in ("retrain", "score", "rollback")] == [
        "fraud_retrain",
        "fraud_score",
        "fraud_rollback",
    ]
    assert "fraud" in pipeline_names()


def test_the_shop_pipeline_loads():
    cfg = load_pipeline("shop")
    assert cfg.target.kind == "entity" and cfg.row_key == "observation_id"
    assert cfg.window_spec().label_delay.days == 9  # 2 days of maturity + 7 of horizon
    assert set(cfg.features.entities) == {"visitor", "region"}
    assert [d.history for d in cfg.source.dimensions] == ["scd2", "static"]
    assert cfg.observation_columns() == {"visitor_id", "segment", "region"}
    assert cfg.features.model_inputs()[1] == ["segment", "region"]


def test_unknown_family_names_key_and_allowed_values(raw):
    raw["training"]["family"] = "xgboost"
    with pytest.raises(ConfigError) as error:
        parse(raw)
    message = str(error.value)
    assert "training.family" in message
    assert (
        "'random_forest'" in message and "'gbt'" in message and "'logistic_regression'" in message
    )
    assert "xgboost" in message


def test_misspelt_key_is_reported(raw):
    raw["training"]["holdout_dayz"] = 7
    with pytest.raises(ConfigError, match=r"training.holdout_dayz: unknown key"):
        parse(raw)


def test_missing_key_is_reported(raw):
    del raw["source"]["events"]["time_column"]
    with pytest.raises(ConfigError, match=r"source.events.time_column: Field required"):
        parse(raw)


def test_sql_injection_in_a_table_name_is_refused(raw):
    raw["source"]["events"]["table"] = "transactions; drop table cards"
    with pytest.raises(ConfigError, match=r"source.events.table: .*not a plain table"):
        parse(raw)


def test_bad_duration_names_the_window(raw):
    raw["features"]["aggregations"][0]["windows"] = ["1h", "1 week"]
    with pytest.raises(ConfigError, match=r"features.aggregations.0.windows.1.*'1 week' is not"):
        parse(raw)


def test_window_too_short_for_holdout(raw):
    raw["window"]["training_days"] = 12  # 12 - 10 maturity = 2 labelled days < 7 + 1 + 1
    with pytest.raises(ConfigError, match=r"leaves 2 labelled days, fewer than .* = 9"):
        parse(raw)


def test_feature_history_shorter_than_lookback(raw):
    raw["window"]["feature_history_days"] = 3  # the 14d aggregations and novelty
    with pytest.raises(ConfigError, match=r"feature_history_days \(3\) is shorter than .*14 days"):
        parse(raw)


def test_join_on_unlisted_dimension(raw):
    raw["features"]["joins"].append({"table": "devices", "key": "device_id", "columns": ["risk"]})
    with pytest.raises(ConfigError, match=r"table 'devices' is not in source.dimensions"):
        parse(raw)


def test_grid_must_cover_chosen_family(raw):
    del raw["training"]["grid"]["gbt"]
    raw["training"]["family"] = "gbt"
    with pytest.raises(ConfigError, match=r"training.grid has no entry for the chosen family"):
        parse(raw)


def test_with_family_revalidates(raw):
    cfg = parse(copy.deepcopy(raw))
    assert cfg.with_family("gbt").training.family == "gbt"
    with pytest.raises(Exception, match="family"):
        cfg.with_family("svm")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline_file(bad)


def test_the_file_name_is_the_pipeline_name(raw, tmp_path):
    raw["name"] = "other"
    with pytest.raises(ConfigError, match="differs from the file's name 'fraud'"):
        parse(raw)
    path = tmp_path / "cards_eu.yaml"
    del raw["name"]
    path.write_text(yaml.safe_dump(raw))
    cfg = load_pipeline_file(path)
    assert cfg.name == "cards_eu" and cfg.dag_id("score") == "cards_eu_score"
    assert cfg.scores_table == "fraud_scores"  # set in the file; the default is <name>_scores


def test_pipelines_folder_comes_from_the_environment(raw, tmp_path, monkeypatch):
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "notes.txt").write_text("not a pipeline")
    monkeypatch.setenv("MLGATE_PIPELINES", str(tmp_path))
    assert pipeline_names() == ["a", "b"]
    assert load_pipeline("a").name == "a"


def test_a_bad_record_bound_without_record_rules_is_refused(raw):
    del raw["records"]
    with pytest.raises(ConfigError, match=r"bad_record_ratio .* add a records: section"):
        parse(raw)
    del raw["gates"]["bad_record_ratio"]
    assert parse(raw).records is None  # no rules, no bound: nothing is quarantined


def test_record_rules_are_the_cleaning_policy_and_the_gate_only_the_bound(raw):
    cfg = parse(raw)
    rules = {rule.column: rule for rule in cfg.records.rules}
    assert rules["amount"].range == (0.01, 50000)
    assert "USD" in rules["currency"].allowed
    assert cfg.gates.bad_record_ratio.model_dump() == {"mode": "block", "max_ratio": 0.01}
    raw["gates"]["bad_record_ratio"]["currencies"] = ["USD"]
    with pytest.raises(ConfigError, match=r"gates.bad_record_ratio.currencies: unknown key"):
        parse(raw)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"column": "amount"}, "says nothing: give range, allowed or regex"),
        ({"column": "amount", "range": [5, 1]}, r"range \[5.0, 1.0\] of 'amount': low above high"),
        ({"column": "email", "regex": "(unclosed"}, "does not compile"),
        ({"column": "currency", "allowed": []}, "at least 1 item"),
    ],
)
def test_a_bad_record_rule_is_named(raw, rule, message):
    raw["records"]["rules"].append(rule)
    with pytest.raises(ConfigError, match=message):
        parse(raw)


# --- the feature spec --------------------------------------------------------------------


def test_feature_names_derive_from_the_spec():
    features = load_pipeline("fraud").features
    names = [f.name for f in features.features()]
    assert names[:4] == ["amount", "merchant_category", "channel", "card_type"]
    assert {
        "card_count_1h",
        "card_amount_sum_7d",
        "card_amount_ratio_to_mean_14d",
        "card_seconds_since_last_14d",
        "card_device_id_is_new_14d",
        "country_ne_home_country",
        "hour_of_day",
        "is_night",
    } <= set(names)
    numeric, categorical = features.model_inputs()
    assert categorical == ["merchant_category", "channel", "card_type"]
    assert len(numeric) == 15


@pytest.mark.parametrize(
    ("aggregation", "message"),
    [
        ({"entity": "card", "op": "median", "windows": ["1h"]}, r"op.*'count', 'sum'"),
        ({"entity": "card", "op": "sum", "windows": ["1h"]}, "op 'sum' needs a column"),
        (
            {"entity": "card", "op": "count", "column": "amount", "windows": ["1h"]},
            "op 'count' takes no column",
        ),
        ({"entity": "shop", "op": "count", "windows": ["1h"]}, r"entity 'shop' is not one of"),
        (
            {"entity": "card", "op": "count", "windows": ["1h"], "filter": "kind == 'x'"},
            "filter and filter_name go together",
        ),
        (
            {
                "entity": "card",
                "op": "count",
                "windows": ["1h"],
                "filter": "kind = 'x'",
                "filter_name": "x",
            },
            "'=' is not a comparison; use '=='",
        ),
        ({"entity": "card", "op": "count", "windows": ["1h", "1h"]}, "list a window twice"),
        ({"entity": "card", "op": "count", "windows": ["24h"]}, "card_count_24h.*defined twice"),
    ],
)
def test_a_bad_aggregation_names_what_is_wrong(raw, aggregation, message):
    raw["features"]["aggregations"].append(aggregation)
    with pytest.raises(ConfigError, match=message):
        parse(raw)


def test_an_unknown_time_zone_is_refused(raw):
    raw["features"]["time_zone"] = "Mars/Olympus"
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        parse(raw)


# --- targets and dimensions ----------------------------------------------------------------


ENTITY_TARGET = {
    "name": "will_return",
    "maturity_days": 1,
    "entity": {
        "entity": "card",
        "every": "1d",
        "active_within": "7d",
        "horizon": "3d",
        "table": "transactions",
        "entity_key": "card_id",
        "time_column": "created_at",
    },
}


def per_card(raw):
    """The fraud spec with a per-card target, kept to what an observation of a card has:
    no event-only features, passthrough columns the card's joins bring."""
    raw["target"] = copy.deepcopy(ENTITY_TARGET)
    features = raw["features"]
    features["novelty"], features["mismatches"], features["numeric"] = [], [], []
    features["categorical"] = ["card_type"]
    features["aggregations"] = [a for a in features["aggregations"] if a["op"] != "ratio_to_mean"]
    return raw


def test_an_entity_target_adds_its_horizon_to_the_label_delay(raw):
    cfg = parse(per_card(raw))
    assert cfg.target.kind == "entity" and cfg.row_key == "observation_id"
    assert cfg.window_spec().label_delay.days == 4  # 1 day of maturity + 3 of horizon


def test_observations_get_the_joins_their_entity_key_reaches(raw):
    # cards joins on card_id, customers on the customer_id cards brings; merchants joins on
    # merchant_id, which only a transaction has.
    cfg = parse(per_card(raw))
    assert [join.table for join in cfg.observation_joins()] == ["cards", "customers"]
    assert cfg.observation_columns() == {"card_id", "card_type", "customer_id", "home_country"}
    assert load_pipeline("fraud").observation_joins() == []


def test_an_entity_target_refuses_ratio_to_mean(raw):
    raw = per_card(raw)  # count, sum, seconds_since_last: the new one is aggregations.3
    raw["features"]["aggregations"].append(
        {"entity": "card", "op": "ratio_to_mean", "column": "amount", "windows": ["14d"]}
    )
    with pytest.raises(ConfigError, match=r"aggregations.3: ratio_to_mean compares a row's own"):
        parse(raw)


def test_an_entity_target_passes_through_only_its_observations_columns(raw):
    raw = per_card(raw)
    raw["features"]["categorical"] = ["card_type", "merchant_category"]
    raw["features"]["numeric"] = ["amount"]
    with pytest.raises(
        ConfigError,
        match=r"\['amount', 'merchant_category'\] are not columns of the observations of 'card'",
    ):
        parse(raw)


def test_an_entity_target_refuses_event_only_features(raw):
    raw["target"] = ENTITY_TARGET
    with pytest.raises(ConfigError, match="novelty and features.mismatches describe one event"):
        parse(raw)


def test_a_target_is_either_per_event_or_per_entity(raw):
    raw["target"]["entity"] = ENTITY_TARGET["entity"]
    with pytest.raises(ConfigError, match="exactly one of target.event"):
        parse(raw)
    del raw["target"]["entity"], raw["target"]["event"]
    with pytest.raises(ConfigError, match="exactly one of target.event"):
        parse(raw)


def test_an_odd_observation_cadence_is_refused(raw):
    raw = per_card(raw)
    raw["target"]["entity"]["every"] = "7h"
    with pytest.raises(ConfigError, match="divides a day"):
        parse(raw)


@pytest.mark.parametrize(
    ("dimension", "message"),
    [
        ({"table": "cards", "key": "card_id", "history": "scd2"}, "needs valid_from"),
        ({"table": "cards", "key": "card_id", "history": "lastmodified"}, "needs updated_at"),
        ({"table": "cards", "key": "card_id", "valid_to": "until"}, "means nothing"),
        ({"table": "cards", "key": "card_id", "history": "daily"}, "'static', 'scd2'"),
    ],
)
def test_a_dimension_history_needs_its_columns(raw, dimension, message):
    raw["source"]["dimensions"][0] = dimension
    with pytest.raises(ConfigError, match=message):
        parse(raw)
