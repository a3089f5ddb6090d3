"""A row of the fraud demo's source `transactions` table, for tests that write a few by hand."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


def transaction_row(key: int, created_at: datetime | str, amount: Decimal | int) -> dict:
    """One card payment of card 1 at merchant 2, in USD at a point of sale in the US."""
    return {
        "transaction_id": key,
        "card_id": 1,
        "merchant_id": 2,
        "amount": amount,
        "currency": "USD",
        "country": "US",
        "channel": "pos",
        "device_id": None,
        "created_at": created_at,
    }
