"""Raw fraud events and an online state over the embedded store with their dimensions, for
the tests of mlgate.online and of the service's raw-event endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from mlgate.config import load_pipeline
from mlgate.export.portable import ModelSpec
from mlgate.online.state import OnlineState, encode_dimension
from mlgate.online.store import EmbeddedStore, decode_history

CFG = load_pipeline("fraud")
T0 = datetime(2026, 10, 1, 12, 0, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stored_keys(store, entity: str, key: object) -> list:
    """The event keys an entity's stored history holds, in its order."""
    data = store.histories([(entity, key)]).get((entity, key))
    return [past.key for past in decode_history(data)]


def transaction(n: int, seconds: float, card: int = 7, amount: float = 10.0, **more) -> dict:
    return {
        "transaction_id": n,
        "card_id": card,
        "merchant_id": 3,
        "amount": amount,
        "currency": "USD",
        "country": "US",
        "channel": "pos",
        "device_id": None,
        "created_at": at(seconds).isoformat(),
        **more,
    }


DIMENSION_ROWS = {  # table -> key -> its (static) row
    "cards": {7: {"card_type": "debit", "customer_id": 70}},
    "merchants": {3: {"merchant_category": "fuel", "merchant_country": "US"}},
    "customers": {70: {"home_country": "FR"}},
}


def fraud_dimensions() -> list[tuple[str, object, bytes]]:
    """DIMENSION_ROWS as a store loads them."""
    dims = {d.table: d for d in CFG.source.dimensions}
    return [
        (table, key, encode_dimension(dims[table], [row], list(row)))
        for table, rows in DIMENSION_ROWS.items()
        for key, row in rows.items()
    ]


def fraud_state(path: Path) -> OnlineState:
    store = EmbeddedStore(path)
    store.load(dimensions=fraud_dimensions())
    return OnlineState(CFG, store)


# a logistic model over two fraud inputs (tests/support/scoring_service.logistic_model)
WEIGHTS = [0.01, 1.0]  # margin = amount / 100 + card_count_1h
FRAUD_SPEC = ModelSpec(
    numeric=["amount", "card_count_1h"],
    categorical=["channel"],
    vocabularies={"channel": ["ecom", "pos"]},
    operating_threshold=0.9,
    family="logistic_regression",
)
