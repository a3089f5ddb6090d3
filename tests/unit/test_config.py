"""Pipeline config validation: the shipped pipelines load, and each kind of mistake names
the bad key (and, for a closed choice, the allowed values)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from mlgate.config import (
    PIPELINES_DIR,
    Aggregation,
    ConfigError,
    FeatureSpec,
    RecordRules,
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


def refusal(raw) -> list[str]:
    """The problems `parse` reports for `raw`, one a line, without the file's line."""
    with pytest.raises(ConfigError) as error:
        parse(raw)
    header, *problems = str(error.value).splitlines()
    assert header == "invalid pipeline <pipeline>:"
    return problems


CHECK = "  (top level): Value error, "  # a rule across sections


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


def test_an_unknown_dag_kind_names_the_kinds():
    cfg = load_pipeline("fraud")
    with pytest.raises(ValueError) as error:
        cfg.dag_id("backfill")
    assert (
        str(error.value)
        == "no DAG kind 'backfill'; kinds: ('retrain', 'score', 'rollback', 'monitor', 'rollout')"
    )


def test_a_missing_pipeline_file_names_the_pipelines_there_are(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_PIPELINES", str(tmp_path))
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as error:
        load_pipeline("nope")
    assert str(error.value) == (
        f"pipeline file {missing} does not exist (pipelines in {tmp_path}: none)"
    )
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as error:
        load_pipeline("nope")
    assert str(error.value) == (
        f"pipeline file {missing} does not exist (pipelines in {tmp_path}: a, b)"
    )


def test_a_pipelines_folder_that_does_not_exist_has_no_pipelines(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_PIPELINES", str(tmp_path / "missing"))
    assert pipeline_names() == []


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
    assert refusal(raw) == [
        f"{CHECK}gates.bad_record_ratio judges the share of rows that break the record rules, "
        "but there are none: add a records: section (required, rules, unique_key)"
    ]
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


def test_every_feature_of_the_fraud_spec_has_its_kind_source_window_and_spec_item():
    spec = load_pipeline("fraud").features
    count, amount_sum, ratio, since = spec.aggregations
    (novelty,) = spec.novelty
    passthrough = [
        ("amount", "numeric", "passthrough", None, None),
        ("merchant_category", "categorical", "passthrough", None, None),
        ("channel", "categorical", "passthrough", None, None),
        ("card_type", "categorical", "passthrough", None, None),
    ]
    computed = [
        ("card_count_1h", "numeric", "aggregation", "1h", count),
        ("card_count_24h", "numeric", "aggregation", "24h", count),
        ("card_count_7d", "numeric", "aggregation", "7d", count),
        ("card_amount_sum_1h", "numeric", "aggregation", "1h", amount_sum),
        ("card_amount_sum_24h", "numeric", "aggregation", "24h", amount_sum),
        ("card_amount_sum_7d", "numeric", "aggregation", "7d", amount_sum),
        ("card_amount_ratio_to_mean_14d", "numeric", "aggregation", "14d", ratio),
        ("card_seconds_since_last_14d", "numeric", "aggregation", "14d", since),
        ("card_country_is_new_14d", "numeric", "novelty", "14d", novelty),
        ("card_device_id_is_new_14d", "numeric", "novelty", "14d", novelty),
        ("card_merchant_id_is_new_14d", "numeric", "novelty", "14d", novelty),
        ("country_ne_home_country", "numeric", "mismatch", None, ("country", "home_country")),
        ("hour_of_day", "numeric", "time", None, None),
        ("is_night", "numeric", "time", None, None),
    ]

    def described(features):
        return [(f.name, f.kind, f.source, f.window, f.item) for f in features]

    assert described(spec.features()) == passthrough + computed
    # the engines compute all but the passthrough columns, which the rows already carry
    assert described(spec.computed()) == computed


def test_the_time_of_day_features_come_in_a_fixed_order():
    spec = FeatureSpec(
        entities={"card": "card_id"},
        time_of_day={"night_hours": (22, 5), "day_of_week": True, "hour": True},
    )
    assert [(f.name, f.kind, f.source) for f in spec.computed()] == [
        ("hour_of_day", "numeric", "time"),
        ("day_of_week", "numeric", "time"),
        ("is_night", "numeric", "time"),
    ]


def test_input_ranges_come_from_each_feature_definition_with_its_empty_value():
    spec = FeatureSpec(
        entities={"card": "card_id"},
        numeric=["amount"],
        categorical=["channel"],  # no range, and the features after it still get theirs
        aggregations=[
            {"entity": "card", "op": "count", "windows": ["1h"]},
            {"entity": "card", "op": "count", "windows": ["1d"], "default": -1},
            {"entity": "card", "op": "seconds_since_last", "windows": ["1d"]},
            {"entity": "card", "op": "seconds_since_last", "windows": ["2d"], "default": -1},
            {"entity": "card", "op": "sum", "column": "amount", "windows": ["1h"]},
        ],
        novelty=[{"entity": "card", "columns": ["country"], "lookback": "14d"}],
        mismatches=[("country", "home_country")],
        time_of_day={"hour": True, "day_of_week": True, "night_hours": (22, 5)},
    )
    # amount (passthrough) and the sum depend on the data: no range for them
    assert spec.input_ranges() == {
        "card_count_1h": (0.0, None),
        "card_count_1d": (-1.0, None),  # a default widens the low end; no top either way
        "card_seconds_since_last_1d": (0.0, 86400.0),
        "card_seconds_since_last_2d": (-1.0, 172800.0),  # -1: "never", the spec's default
        "card_country_is_new_14d": (0.0, 1.0),
        "country_ne_home_country": (0.0, 1.0),
        "hour_of_day": (0.0, 23.0),
        "day_of_week": (1.0, 7.0),
        "is_night": (0.0, 1.0),
    }


def test_a_last_of_a_categorical_column_is_a_categorical_feature():
    # only `last` keeps a category; a count of distinct categories is a number, and the
    # last of a numeric column is a number
    spec = FeatureSpec(
        entities={"card": "card_id"},
        categorical=["channel"],
        numeric=["amount"],
        aggregations=[
            {"entity": "card", "op": "last", "column": "channel", "windows": ["1d"]},
            {"entity": "card", "op": "count_distinct", "column": "channel", "windows": ["1d"]},
            {"entity": "card", "op": "last", "column": "amount", "windows": ["1d"]},
        ],
    )
    assert {f.name: f.kind for f in spec.computed()} == {
        "card_channel_last_1d": "categorical",
        "card_channel_count_distinct_1d": "numeric",
        "card_amount_last_1d": "numeric",
    }
    assert spec.model_inputs() == (
        ["amount", "card_channel_count_distinct_1d", "card_amount_last_1d"],
        ["channel", "card_channel_last_1d"],
    )


def test_an_empty_window_gives_the_default_else_the_ops_own_value():
    def empty(op: str, **fields) -> float | None:
        return Aggregation(entity="card", op=op, windows=["2h"], **fields).empty_value("2h")

    assert empty("count") == 0.0
    assert empty("sum", column="amount") == 0.0
    assert empty("count_distinct", column="device_id") == 0.0
    assert empty("ratio_to_mean", column="amount") == 1.0  # as usual
    assert empty("seconds_since_last") == 7200.0  # as long ago as the 2h window can see
    assert empty("mean", column="amount") is None
    assert empty("last", column="amount") is None
    assert empty("mean", column="amount", default=0) == 0.0  # 0 is a default too
    assert empty("count", default=-1) == -1.0
    assert empty("seconds_since_last", default=5) == 5.0


def test_the_columns_the_spec_reads_are_its_keys_inputs_and_what_it_aggregates():
    # fraud: the key, passthrough columns, aggregated, novelty and mismatched columns
    assert load_pipeline("fraud").features.event_columns() == {
        "card_id",
        "amount",
        "merchant_category",
        "channel",
        "card_type",
        "country",
        "device_id",
        "merchant_id",
        "home_country",
    }
    # shop: two keys (region is also a categorical input), aggregated columns and the
    # filters' event_type; no passthrough numeric column
    assert load_pipeline("shop").features.event_columns() == {
        "visitor_id",
        "region",
        "segment",
        "session_id",
        "product_id",
        "category",
        "price",
        "event_type",
    }


def test_each_aggregation_filter_is_listed_with_its_key():
    spec = FeatureSpec(
        entities={"card": "card_id"},
        aggregations=[
            {"entity": "card", "op": "count", "windows": ["1d"]},
            {
                "entity": "card",
                "op": "count",
                "windows": ["1d"],
                "filter": "channel == 'web'",
                "filter_name": "web",
            },
            {
                "entity": "card",
                "op": "sum",
                "column": "amount",
                "windows": ["1d"],
                "filter": "amount > 100 and country is not null",
                "filter_name": "big",
            },
        ],
    )
    assert [(where, f.text, f.columns()) for where, f in spec.filters()] == [
        ("features.aggregations.1.filter", "channel == 'web'", {"channel"}),
        (
            "features.aggregations.2.filter",
            "amount > 100 and country is not null",
            {"amount", "country"},
        ),
    ]


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


def test_a_join_on_the_entity_key_reaches_observations_after_joins_on_other_keys(raw):
    raw = per_card(raw)
    raw["source"]["dimensions"].append(
        {"table": "card_limits", "key": "card_id", "history": "static"}
    )
    raw["features"]["joins"].append(
        {"table": "card_limits", "key": "card_id", "columns": ["credit_limit"]}
    )
    cfg = parse(raw)
    assert [join.table for join in cfg.observation_joins()] == ["cards", "customers", "card_limits"]
    assert cfg.observation_columns() == {
        "card_id",
        "card_type",
        "customer_id",
        "home_country",
        "credit_limit",
    }


def test_an_entity_target_refuses_ratio_to_mean(raw):
    raw = per_card(raw)  # count, sum, seconds_since_last: the new one is aggregations.3
    raw["features"]["aggregations"].append(
        {"entity": "card", "op": "ratio_to_mean", "column": "amount", "windows": ["14d"]}
    )
    assert refusal(raw) == [
        f"{CHECK}features.aggregations.3: ratio_to_mean compares a row's own amount with the "
        "mean of earlier ones; an observation of an entity target has no value of its own: "
        "remove it or use target.event"
    ]


def test_an_entity_target_passes_through_only_its_observations_columns(raw):
    raw = per_card(raw)
    raw["features"]["categorical"] = ["card_type", "merchant_category"]
    raw["features"]["numeric"] = ["amount"]
    with pytest.raises(
        ConfigError,
        match=r"\['amount', 'merchant_category'\] are not columns of the observations of 'card'",
    ):
        parse(raw)


EVENT_ONLY = (
    f"{CHECK}features.novelty and features.mismatches describe one event; an entity target "
    "observes entities, not events: remove them or use target.event"
)


def test_an_entity_target_refuses_event_only_features(raw):
    raw["target"] = ENTITY_TARGET
    assert refusal(copy.deepcopy(raw)) == [EVENT_ONLY]
    # either one alone is refused too
    only_novelty = copy.deepcopy(per_card(raw))
    only_novelty["features"]["novelty"] = [
        {"entity": "card", "columns": ["country"], "lookback": "14d"}
    ]
    assert refusal(only_novelty) == [EVENT_ONLY]
    only_mismatch = copy.deepcopy(per_card(raw))
    only_mismatch["features"]["mismatches"] = [["country", "home_country"]]
    assert refusal(only_mismatch) == [EVENT_ONLY]


def test_an_entity_target_observes_an_entity_of_the_spec(raw):
    raw = per_card(raw)
    raw["target"]["entity"]["entity"] = "merchant"
    assert refusal(raw) == [
        f"{CHECK}target.entity.entity 'merchant' is not one of features.entities ['card']"
    ]


def test_an_entity_target_reads_history_as_far_back_as_it_looks_for_activity(raw):
    # an entity counts as active when it had events within active_within before the
    # observation: 21 days of that needs 21 days of history, beyond the 14d aggregations
    raw = per_card(raw)
    raw["target"]["entity"]["active_within"] = "21d"
    assert refusal(copy.deepcopy(raw)) == [
        f"{CHECK}window.feature_history_days (14) is shorter than the longest feature "
        "lookback (21 days): the oldest rows of the window would get incomplete features"
    ]
    raw["window"]["feature_history_days"] = 21
    assert max(parse(raw).window_spec().lookback_seconds) == 21 * 86_400


def test_a_target_is_either_per_event_or_per_entity(raw):
    raw["target"]["entity"] = ENTITY_TARGET["entity"]
    with pytest.raises(ConfigError, match="exactly one of target.event"):
        parse(raw)
    del raw["target"]["entity"], raw["target"]["event"]
    with pytest.raises(ConfigError, match="exactly one of target.event"):
        parse(raw)


@pytest.mark.parametrize("every", ["30m", "59m", "7h", "5h", "36h"])
def test_an_odd_observation_cadence_is_refused(raw, every):
    # under an hour, or not a divisor of a day nor a whole number of days
    raw = per_card(raw)
    raw["target"]["entity"]["every"] = every
    assert refusal(raw) == [
        f"  target.entity: Value error, every {every!r}: observations need a cadence of at "
        "least 1h that divides a day or is a whole number of days"
    ]


@pytest.mark.parametrize("every", ["1h", "60m", "8h", "12h", "1d", "24h", "2d", "7d"])
def test_a_cadence_that_divides_a_day_or_is_whole_days_is_accepted(raw, every):
    raw = per_card(raw)
    raw["target"]["entity"]["every"] = every
    assert parse(raw).target.entity.every == every


@pytest.mark.parametrize(
    ("dimension", "message"),
    [
        ({"table": "cards", "key": "card_id", "history": "scd2"}, "needs valid_from"),
        ({"table": "cards", "key": "card_id", "history": "lastmodified"}, "needs updated_at"),
        (
            {"table": "cards", "key": "card_id", "history": "static", "valid_to": "until"},
            "means nothing",
        ),
        ({"table": "cards", "key": "card_id", "history": "daily"}, "'static', 'scd2'"),
        (
            {"table": "cards", "key": "card_id"},
            "history is required: how the table changes decides how past rows join it; "
            "one of 'static' (never changes: a snapshot per run), 'scd2' (versions with "
            "valid_from / valid_to), 'lastmodified' (current values with updated_at)",
        ),
    ],
)
def test_a_dimension_history_needs_its_columns(raw, dimension, message):
    raw["source"]["dimensions"][0] = dimension
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse(raw)


@pytest.mark.parametrize(
    ("dimension", "message"),
    [
        (
            {"table": "cards", "key": "card_id", "history": "scd2", "valid_from": "a"},
            None,
        ),
        (
            {
                "table": "cards",
                "key": "card_id",
                "history": "scd2",
                "valid_from": "a",
                "valid_to": "b",
            },
            None,
        ),
        (
            {"table": "cards", "key": "card_id", "history": "lastmodified", "updated_at": "u"},
            None,
        ),
        (
            {
                "table": "cards",
                "key": "card_id",
                "history": "scd2",
                "valid_from": "a",
                "updated_at": "u",
            },
            "updated_at means nothing with history 'scd2'",
        ),
        (
            {
                "table": "cards",
                "key": "card_id",
                "history": "lastmodified",
                "updated_at": "u",
                "valid_to": "b",
            },
            "valid_to means nothing with history 'lastmodified'",
        ),
        (
            {
                "table": "cards",
                "key": "card_id",
                "history": "lastmodified",
                "updated_at": "u",
                "valid_from": "a",
            },
            "valid_from means nothing with history 'lastmodified'",
        ),
        (
            {"table": "cards", "key": "card_id", "history": "static", "valid_from": "a"},
            "valid_from means nothing with history 'static'",
        ),
    ],
)
def test_a_dimension_takes_only_its_historys_columns(raw, dimension, message):
    raw["source"]["dimensions"][0] = dimension
    if message is None:
        assert parse(raw).source.dimension("cards").model_dump(exclude_unset=True) == dimension
    else:
        assert refusal(raw) == [f"  source.dimensions.0: Value error, {message}"]


def test_a_dimension_is_found_by_its_table():
    source = load_pipeline("shop").source
    assert (source.dimension("visitors").key, source.dimension("visitors").history) == (
        "visitor_id",
        "scd2",
    )
    assert (source.dimension("products").key, source.dimension("products").history) == (
        "product_id",
        "static",
    )


def test_the_record_rules_read_the_required_columns_and_those_with_a_rule():
    rules = RecordRules(
        required=["transaction_id", "amount"],
        rules=[
            {"column": "amount", "range": [0, 10]},
            {"column": "currency", "allowed": ["USD"]},
        ],
    )
    assert rules.columns() == {"transaction_id", "amount", "currency"}


def _set(raw: dict, dotted: str, value) -> dict:
    """`raw` with the value at a dotted key (e.g. gates.quality.confidence) replaced;
    a number in the path indexes a list."""
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
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
    "already holds the partitions of the events, labels or dimensions; set a distinct target"
)
TOP = "(top level): Value error, "


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "source.events.query",
            "SELECT * FROM transactions",
            "source.events.query: Value error, a free-form query must contain the placeholder "
            "$CONDITIONS where mlgate puts its conditions (window, split range), e.g. "
            "'SELECT t.* FROM transactions t WHERE $CONDITIONS'",
        ),
        ("source.events.splits", 0, f"source.events.splits: {GE} 1"),
        ("source.events.splits", 33, f"source.events.splits: {LE} 32"),
        (
            "source.incremental",
            [LASTMODIFIED_WITHOUT_KEY],
            "source.incremental.0: Value error, mode lastmodified merges changed rows into the "
            "lake by key: set key",
        ),
        # rules across imports and tables: reported at the top level, naming the key
        (
            "source.incremental",
            _incremental(("a", "log"), ("b", None), ("c", "log")),
            f"{TOP}source.incremental.2: target 'log' is used twice",
        ),
        (
            "source.incremental",
            _incremental(("accounts", None), ("accounts", None)),
            f"{TOP}source.incremental.1: target 'accounts' is used twice",
        ),
        (
            "source.incremental",
            _incremental(("chargebacks", None)),
            f"{TOP}source.incremental.0: lake folder 'chargebacks' {ALREADY_HOLDS}",
        ),
        (
            "source.incremental",
            _incremental(("accounts", "cards")),
            f"{TOP}source.incremental.0: lake folder 'cards' {ALREADY_HOLDS}",
        ),
        (
            "source.incremental",
            _incremental(("accounts", "transactions")),
            f"{TOP}source.incremental.0: lake folder 'transactions' {ALREADY_HOLDS}",
        ),
        (
            "source.dimensions",
            [{"table": "cards", "key": "card_id", "history": "static"}] * 2,
            "source: Value error, dimensions.1: table 'cards' is listed twice",
        ),
        (
            "gates.data_expectations.label_freshness_days",
            -1,
            f"gates.data_expectations.label_freshness_days: {GE} 0",
        ),
        (
            "gates.data_expectations.label_freshness_days",
            31,
            f"gates.data_expectations.label_freshness_days: {LE} 30",
        ),
        (
            "gates.data_expectations.min_daily_labels",
            0,
            f"gates.data_expectations.min_daily_labels: {GE} 1",
        ),
        (
            "gates.data_expectations.joined_not_null",
            0,
            f"gates.data_expectations.joined_not_null: {GT} 0",
        ),
        (
            "gates.data_expectations.joined_not_null",
            1.01,
            f"gates.data_expectations.joined_not_null: {LE} 1",
        ),
        ("gates.bad_record_ratio.max_ratio", -0.01, f"gates.bad_record_ratio.max_ratio: {GE} 0"),
        ("gates.bad_record_ratio.max_ratio", 1.5, f"gates.bad_record_ratio.max_ratio: {LE} 1"),
        ("gates.quality.confidence", 1.0, f"gates.quality.confidence: {LT} 1"),
        ("gates.quality.confidence", 0.5, f"gates.quality.confidence: {GT} 0.5"),
        ("gates.quality.max_drop", -0.01, f"gates.quality.max_drop: {GE} 0"),
        ("gates.quality.max_jump", 0, f"gates.quality.max_jump: {GT} 0"),
        ("gates.quality.bootstrap_samples", 19, f"gates.quality.bootstrap_samples: {GE} 20"),
        (
            "gates.quality.floor",
            {},
            "gates.quality.floor: Dictionary should have at least 1 item after validation, not 0",
        ),
        (
            "gates.quality.compare_metric",
            "f1",
            "gates.quality.compare_metric: Input should be 'auc_pr', 'roc_auc', "
            "'recall_at_threshold' or 'cost' (got 'f1')",
        ),
        ("gates.quality.cost_false_negative", -1, f"gates.quality.cost_false_negative: {GE} 0"),
        ("gates.shadow.max_psi", 0, f"gates.shadow.max_psi: {GT} 0"),
        ("gates.shadow.max_flip_rate", 1.1, f"gates.shadow.max_flip_rate: {LE} 1"),
        ("gates.export_parity.max_abs_diff", 0, f"gates.export_parity.max_abs_diff: {GT} 0"),
        ("gates.online_parity.tolerance", 0, f"gates.online_parity.tolerance: {GT} 0"),
        (
            "gates.online_parity.worst_rows",
            0,
            "gates.online_parity.worst_rows: Input should be greater than or equal to 1",
        ),
        (
            "gates.data_expectations.volume_tolerance",
            0,
            f"gates.data_expectations.volume_tolerance: {GT} 0",
        ),
        (
            "gates.data_expectations.volume_history_days",
            0,
            f"gates.data_expectations.volume_history_days: {GE} 1",
        ),
        ("gates.training_iterations.tolerance", 0, f"gates.training_iterations.tolerance: {GT} 0"),
        ("gates.training_iterations.history", 0, f"gates.training_iterations.history: {GE} 1"),
        (
            "gates.quality.mode",
            "stop",
            "gates.quality.mode: Input should be 'block' or 'warn' (got 'stop')",
        ),
        (
            "records.rules.1.allowed",
            [],
            "records.rules.1.allowed: List should have at least 1 item after validation, not 0",
        ),
        ("training.operating_threshold", 1.0, f"training.operating_threshold: {LT} 1"),
        ("training.negative_sample_rate", 0, f"training.negative_sample_rate: {GT} 0"),
        ("training.holdout_days", 0, f"training.holdout_days: {GE} 1"),
        ("training.gap_days", 31, f"training.gap_days: {LE} 30"),
        ("training.search.train_ratio", 1.0, f"training.search.train_ratio: {LT} 1"),
        ("target.maturity_days", -1, f"target.maturity_days: {GE} 0"),
        ("window.feature_history_days", 366, f"window.feature_history_days: {LE} 365"),
        (
            "features.aggregations.0.windows",
            [],
            "features.aggregations.0.windows: List should have at least 1 item after validation, "
            "not 0",
        ),
        (
            "features.novelty.0.lookback",
            "3 weeks",
            "features.novelty.0.lookback: Value error, '3 weeks' is not a duration like "
            "15m, 1h or 7d",
        ),
        (
            "features",
            {"entities": {"card": "card_id"}},
            "features: Value error, the spec defines no model input",
        ),
        (
            "features.aggregations.0.entity",
            "shop",
            "features: Value error, aggregations.0: entity 'shop' is not one of ['card']",
        ),
        (
            "features.aggregations.0.filter",
            "kind == 'x'",
            "features.aggregations.0: Value error, filter and filter_name go together "
            "(the name goes into features)",
        ),
        (  # the position counts from 0: the '=' is the 8th character
            "target.event.filter",
            "status = 'won'",
            "target.event: Value error, at 7: '=' is not a comparison; use '=='",
        ),
        (
            "target.entity",
            ENTITY_TARGET["entity"],
            "target: Value error, give exactly one of target.event (one label per event) or "
            "target.entity (one per entity observed at a cadence)",
        ),
        (
            "features.time_of_day.night_hours",
            [22, 24],
            "features.time_of_day.night_hours: Value error, night_hours [22, 24] must be "
            "hours 0-23",
        ),
    ],
)
def test_each_rule_refuses_a_bad_value_naming_the_key(raw, key, value, message):
    with pytest.raises(ConfigError) as error:
        parse(_set(raw, key, value))
    lines = str(error.value).splitlines()
    assert lines[0] == "invalid pipeline <pipeline>:"
    assert len(lines) == 2 and lines[1] == f"  {message}", lines


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gates.data_expectations.label_freshness_days", 0),
        ("gates.data_expectations.label_freshness_days", 30),
        ("gates.data_expectations.min_daily_labels", 1),
        ("gates.data_expectations.joined_not_null", 1.0),
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
        ("gates.online_parity.tolerance", 1e-3),
        ("gates.online_parity.worst_rows", 1000),
        ("source.events.splits", 32),
        ("source.incremental", [{**LASTMODIFIED_WITHOUT_KEY, "key": "account_id"}]),
        ("source.incremental", _incremental(("accounts", None), ("accounts", "accounts_v2"))),
        ("features.time_of_day.night_hours", (0, 23)),
        ("records.rules.0.range", (5.0, 5.0)),  # low == high: one value is allowed
        ("target.event.filter", "status == 'won'"),
    ],
)
def test_values_at_the_edge_of_a_rule_are_accepted(raw, key, value):
    node = parse(_set(raw, key, value)).model_dump()
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    if key == "source.incremental":  # the parsed imports also carry the defaults they got
        node = [{k: spec[k] for k in given} for spec, given in zip(node, value, strict=True)]
    assert node == value


def test_every_problem_is_listed_on_its_own_line(raw):
    raw["gates"]["quality"]["confidence"] = 1.0
    raw["gates"]["shadow"]["max_psi"] = 0
    with pytest.raises(ConfigError) as error:
        parse_pipeline(raw, "fraud", "my.yaml")
    assert str(error.value) == (
        "invalid pipeline my.yaml:\n"
        "  gates.quality.confidence: Input should be less than 1\n"
        "  gates.shadow.max_psi: Input should be greater than 0"
    )


# The thresholds a pipeline gets when it names a gate but not its values: docs/gates.md and
# docs/pipelines.md promise these. The suites and the assertion file have no default: they
# belong to the pipeline.
SUITES = {"raw_suite": "mine/raw", "features_suite": "mine/features"}
ASSERTIONS = {"path": "include/assertions/mine.yaml"}
GATE_DEFAULTS = {
    "reconciliation": {"mode": "block", "checksum": True, "allow_empty": False},
    "bad_record_ratio": {"mode": "block", "max_ratio": 0.01},
    "data_expectations": {
        "mode": "block",
        **SUITES,
        "label_rate": (0.0005, 0.02),
        "label_freshness_days": 3,
        "min_daily_labels": 1,
        "joined_not_null": 0.99,
        "volume_history_days": 7,
        "volume_tolerance": 0.5,
    },
    "training_iterations": {"mode": "block", "history": 5, "tolerance": 0.5},
    "assertion_set": {"mode": "block", **ASSERTIONS},
    "quality": {
        "mode": "block",
        "floor": {"auc_pr": 0.3},
        "ceiling": {"roc_auc": 0.995},
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
    "online_parity": {"mode": "block", "tolerance": 1e-9, "worst_rows": 10},
}


def test_gate_defaults_are_the_documented_thresholds(raw):
    raw["gates"] = {name: {} for name in GATE_DEFAULTS}
    raw["gates"]["data_expectations"] = dict(SUITES)
    raw["gates"]["assertion_set"] = dict(ASSERTIONS)
    raw["gates"]["quality"] = {"floor": {"auc_pr": 0.3}}
    assert parse(raw).gates.model_dump() == GATE_DEFAULTS


@pytest.mark.parametrize(
    ("gate", "missing"),
    [
        ("quality", "floor"),
        ("data_expectations", "raw_suite"),
        ("data_expectations", "features_suite"),
        ("assertion_set", "path"),
    ],
)
def test_a_gate_without_what_only_the_pipeline_knows_is_refused(raw, gate, missing):
    del raw["gates"][gate][missing]
    with pytest.raises(ConfigError, match=rf"gates.{gate}.{missing}: Field required"):
        parse(raw)


def test_the_fraud_pipeline_sets_these_thresholds():
    gates = load_pipeline("fraud").gates
    assert gates.configured() == list(GATE_DEFAULTS)
    assert gates.model_dump() == {
        **GATE_DEFAULTS,
        "data_expectations": {
            **GATE_DEFAULTS["data_expectations"],
            "raw_suite": "fraud/raw_transactions",
            "features_suite": "fraud/features",
        },
        "assertion_set": {"mode": "block", "path": "include/assertions/fraud.yaml"},
        "quality": {
            **GATE_DEFAULTS["quality"],
            "floor": {"auc_pr": 0.30, "roc_auc": 0.85},
            "max_drop": 0.02,
        },
        "shadow": {**GATE_DEFAULTS["shadow"], "mode": "warn"},
    }


@pytest.mark.parametrize(
    ("ceiling", "problem"),
    [
        (
            {"roc_auc": 0.85},
            "gates.quality: Value error, quality.ceiling.roc_auc 0.85 is not above its floor "
            "0.85: no model could pass; raise the ceiling or lower the floor",
        ),
        (
            {"auc_pr": 1.01},
            "gates.quality: Value error, quality.ceiling.auc_pr is 1.01: give a share in (0, 1]",
        ),
        (
            {"auc_pr": 0.0},
            "gates.quality: Value error, quality.ceiling.auc_pr is 0.0: give a share in (0, 1]",
        ),
        (
            {},
            "gates.quality.ceiling: Dictionary should have at least 1 item after validation, not 0",
        ),
        (
            {"cost": 0.5},
            "gates.quality.ceiling.cost.[key]: Input should be 'auc_pr', 'roc_auc', "
            "'recall_at_threshold' or 'precision_at_threshold' (got 'cost')",
        ),
    ],
)
def test_a_quality_ceiling_that_no_model_could_meet_is_refused(raw, ceiling, problem):
    raw["gates"]["quality"]["ceiling"] = ceiling  # the fraud floor: auc_pr 0.30, roc_auc 0.85
    assert refusal(raw) == [f"  {problem}"]


def test_a_quality_ceiling_just_above_the_floor_or_at_one_is_accepted(raw):
    raw["gates"]["quality"]["ceiling"] = {"roc_auc": 0.8501, "auc_pr": 1.0}
    assert parse(raw).gates.quality.ceiling == {"roc_auc": 0.8501, "auc_pr": 1.0}


def test_a_dimension_rule_on_a_column_no_join_brings_is_refused(raw):
    raw["source"]["dimensions"][2]["rules"] = [{"column": "home_city", "allowed": ["Paris"]}]
    assert refusal(raw) == [
        f"{CHECK}source.dimensions.2.rules: column 'home_city' of 'customers' is brought by "
        "no features.joins entry, so there is nothing to check it on: add it to a join's "
        "columns or remove the rule"
    ]


def test_dimension_rules_default_to_none_and_the_demo_declares_its_categories():
    assert load_pipeline("fraud").source.dimensions[2].rules == []
    merchants = load_pipeline("fraud").source.dimensions[1]
    assert merchants.rules[0].column == "merchant_category"
    assert len(merchants.rules[0].allowed) == 13


def test_the_feature_table_carries_the_joins_its_rows_reach():
    fraud, shop = load_pipeline("fraud"), load_pipeline("shop")
    assert [j.table for j in fraud.feature_table_joins()] == ["merchants", "cards", "customers"]
    # the shop's products join brings the category to page events, not to observations
    assert [j.table for j in shop.feature_table_joins()] == ["visitors"]


def test_record_rule_defaults():
    rules = RecordRules()
    assert (rules.required, rules.rules, rules.unique_key) == ([], [], True)


def test_only_configured_gates_are_evaluated(raw):
    raw["gates"] = {"shadow": {}, "reconciliation": {}}
    del raw["records"]  # no bad-record bound, so no rules are needed
    assert parse(raw).gates.configured() == ["reconciliation", "shadow"]
    raw["gates"] = {}
    assert parse(raw).gates.configured() == []


def test_an_incremental_import_lands_under_its_target_or_its_table():
    from mlgate.config import IncrementalImport

    spec = IncrementalImport(table="accounts", mode="append", check_column="id")
    assert spec.name == "accounts"
    assert spec.model_copy(update={"target": "accounts_log"}).name == "accounts_log"


def test_source_url_takes_the_state_folder_or_the_pipelines_environment(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    monkeypatch.delenv("MLGATE_SOURCE_URL", raising=False)
    monkeypatch.delenv("MLGATE_SOURCE_URL__FRAUD", raising=False)
    cfg = parse(raw)
    assert cfg.source_url() == f"sqlite:///{tmp_path}/source/transactions.db"
    monkeypatch.setenv("MLGATE_SOURCE_URL", "postgresql://db/any")
    assert cfg.source_url() == "postgresql://db/any"
    monkeypatch.setenv("MLGATE_SOURCE_URL__FRAUD", "postgresql://db/fraud")
    assert cfg.source_url() == "postgresql://db/fraud"
    monkeypatch.setenv("MLGATE_SOURCE_URL__SHOP", "postgresql://db/shop")
    assert cfg.source_url() == "postgresql://db/fraud"  # another pipeline's is not ours


def test_scores_url_is_the_environment_then_the_target_then_the_source(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    monkeypatch.setenv("MLGATE_SOURCE_URL__FRAUD", "postgresql://db/source")
    monkeypatch.delenv("MLGATE_SCORES_URL", raising=False)
    cfg = parse(raw)
    assert cfg.scores_url() == "postgresql://db/source"
    raw["scoring"]["target_url"] = "sqlite:///{state}/scores.db"
    targeted = parse(raw)
    assert targeted.scores_url() == f"sqlite:///{tmp_path}/scores.db"
    monkeypatch.setenv("MLGATE_SCORES_URL", "postgresql://db/scores")
    assert targeted.scores_url() == "postgresql://db/scores"


def test_a_pipeline_file_that_is_not_a_mapping_or_is_invalid_is_named(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError) as error:
        load_pipeline_file(listed)
    assert str(error.value) == f"pipeline file {listed} must hold a mapping at the top level"
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(
        (PIPELINES_DIR / "fraud.yaml").read_text().replace("holdout_days: 7", "holdout_dayz: 7")
    )
    with pytest.raises(ConfigError) as error:
        load_pipeline_file(invalid)
    assert str(error.value).splitlines() == [
        f"invalid pipeline {invalid}:",
        "  training.holdout_days: Field required",
        "  training.holdout_dayz: unknown key; check its spelling against docs/pipelines.md",
    ]


def test_a_computed_feature_listed_as_a_source_column_is_named(raw):
    # a `last` of a categorical column is categorical by itself; listing its name too is
    # the mistake this message explains (it used to say only "defined twice")
    raw["features"]["aggregations"].append(
        {"entity": "card", "op": "last", "column": "channel", "windows": ["14d"]}
    )
    raw["features"]["categorical"].append("card_channel_last_14d")
    with pytest.raises(ConfigError) as error:
        parse(raw)
    assert str(error.value).splitlines()[1] == (
        "  features: Value error, categorical/numeric list ['card_channel_last_14d'], which the "
        "spec computes; list source columns only (a `last` of a column in categorical is "
        "categorical by itself)"
    )
    raw["features"]["categorical"].remove("card_channel_last_14d")
    kinds = {f.name: f.kind for f in parse(raw).features.features()}
    assert kinds["card_channel_last_14d"] == "categorical"


def test_the_pipelines_folder_is_the_given_environments_or_folder(tmp_path, monkeypatch):
    """A service's pipelines folder is the one in its environment, not the caller's."""
    from mlgate.config import PIPELINES_DIR, pipeline_names, pipeline_path, pipelines_dir

    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for folder, names in ((mine, ["a", "b"]), (theirs, ["c"])):
        folder.mkdir()
        for name in names:
            (folder / f"{name}.yaml").write_text("{}")
    monkeypatch.setenv("MLGATE_PIPELINES", str(mine))
    assert pipelines_dir() == mine
    assert pipelines_dir({"MLGATE_PIPELINES": str(theirs)}) == theirs
    assert pipelines_dir({}) == PIPELINES_DIR
    assert pipeline_names() == ["a", "b"]
    assert pipeline_names(theirs) == ["c"]
    assert pipeline_path("c") == mine / "c.yaml"
    assert pipeline_path("c", theirs) == theirs / "c.yaml"


# --- after promotion: monitoring, approval, rollout ------------------------------------------


def test_after_promotion_defaults_are_off_or_conservative(raw):
    cfg = parse(raw)
    assert cfg.monitoring.model_dump() == {
        "retrain_after_days": 3,
        "reference_rows": 20_000,
        "drift": {"alpha": 0.01, "min_psi": 0.1, "bins": 10},
        "realised": {"confidence": 0.95, "tolerance": 0.0},
    }
    assert (cfg.approval, cfg.approval_timeout) == ("none", "24h")
    assert cfg.rollout.model_dump() == {
        "mode": "none",
        "share": 0.2,
        "alpha": 0.05,
        "effect": 0.05,
        "margin": 0.0,
        "min_days": 3,
        "max_days": 28,
        "min_agreement": 0.9,
        "max_flagged_ratio": 2.0,
    }
    assert cfg.retrain_request == "fraud_retrain_request"
    assert [cfg.dag_id(k) for k in ("monitor", "rollout")] == ["fraud_monitor", "fraud_rollout"]


@pytest.mark.parametrize(
    "section, key, accepted, refused",
    [
        ("monitoring", "retrain_after_days", [1, 60], [0, 61]),
        ("monitoring", "reference_rows", [200, 1_000_000], [199, 1_000_001]),
        ("monitoring.drift", "alpha", [1e-9, 0.999], [0, 1]),
        ("monitoring.drift", "min_psi", [0, 5], [-0.01]),
        ("monitoring.drift", "bins", [2, 100], [1, 101]),
        ("monitoring.realised", "confidence", [0.51, 0.999], [0.5, 1]),
        ("monitoring.realised", "tolerance", [0, 1], [-0.01, 1.01]),
        ("rollout", "share", [0.01, 0.99], [0, 1]),
        ("rollout", "alpha", [0.001, 0.999], [0, 1]),
        ("rollout", "effect", [0.001, 1], [0, 1.01]),
        ("rollout", "margin", [0, 1], [-0.01, 1.01]),
        ("rollout", "min_days", [1, 28], [0]),
        ("rollout", "max_days", [3, 365], [366]),
        ("rollout", "min_agreement", [0, 1], [-0.01, 1.01]),
        ("rollout", "max_flagged_ratio", [1, 50], [0.99]),
    ],
)
def test_after_promotion_settings_are_bounded_at_their_edges(raw, section, key, accepted, refused):
    def with_value(value):
        data = copy.deepcopy(raw)
        node = data
        for part in section.split("."):
            node = node.setdefault(part, {})
        node[key] = value
        return data

    for value in accepted:
        cfg = parse(with_value(value))
        node = cfg
        for part in section.split("."):
            node = getattr(node, part)
        assert getattr(node, key) == value
    for value in refused:
        (problem,) = refusal(with_value(value))
        assert problem.startswith(f"  {section}.{key}: "), problem


def test_a_rollout_that_must_decide_before_it_may_is_refused(raw):
    raw["rollout"] = {"mode": "canary", "min_days": 10, "max_days": 9}
    assert refusal(raw) == ["  rollout: Value error, min_days (10) must not exceed max_days (9)"]
    raw["rollout"] = {"mode": "canary", "min_days": 9, "max_days": 9}
    assert parse(raw).rollout.max_days == 9


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("approval", "maybe", "Input should be 'none' or 'required'"),
        ("approval_timeout", "soon", "approval_timeout"),
        ("rollout", {"mode": "blue_green"}, "Input should be 'none', 'canary' or 'shadow'"),
    ],
)
def test_an_unknown_approval_or_rollout_mode_names_the_choices(raw, key, value, message):
    raw[key] = value
    assert message in "\n".join(refusal(raw))


def test_approval_and_a_canary_rollout_load_as_written(raw):
    raw.update(
        {
            "approval": "required",
            "approval_timeout": "36h",
            "rollout": {"mode": "shadow", "share": 0.5},
        }
    )
    cfg = parse(raw)
    assert (cfg.approval, cfg.approval_timeout) == ("required", "36h")
    assert (cfg.rollout.mode, cfg.rollout.share) == ("shadow", 0.5)
