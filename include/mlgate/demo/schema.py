"""Schema of the demo source database: a card issuer's transactions and chargebacks.

SQLAlchemy Core tables, created by `mlgate.generate` in any database SQLAlchemy reaches
(SQLite by default). The pipeline config (include/config/mlgate.yaml) names these tables
and columns: `transactions` is the event table imported one day at a time, `chargebacks`
holds the late-arriving labels, `cards`, `merchants` and `customers` are dimensions.

All datetimes are naive UTC with second resolution.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)
from sqlalchemy.dialects import sqlite

# SQLite keeps datetimes as text; store them as "YYYY-MM-DD HH:MM:SS" (second resolution,
# no microseconds) so raw SQL string comparisons and other readers see a plain timestamp.
UtcDateTime = DateTime().with_variant(sqlite.DATETIME(truncate_microseconds=True), "sqlite")

metadata = MetaData()

CARD_TYPES = ("credit", "debit", "prepaid")
CHANNELS = ("pos", "ecom", "atm")

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Integer, primary_key=True, autoincrement=False),
    Column("home_country", String(2), nullable=False, comment="ISO 3166-1 alpha-2"),
    Column("created_at", UtcDateTime, nullable=False, comment="naive UTC"),
)

cards = Table(
    "cards",
    metadata,
    Column("card_id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, nullable=False),
    Column("card_type", String(10), nullable=False, comment="credit | debit | prepaid"),
    Column("issued_at", UtcDateTime, nullable=False, comment="naive UTC"),
)

merchants = Table(
    "merchants",
    metadata,
    Column("merchant_id", Integer, primary_key=True, autoincrement=False),
    Column("merchant_name", String(64)),
    Column("merchant_category", String(32), nullable=False),
    Column("merchant_country", String(2), nullable=False, comment="ISO 3166-1 alpha-2"),
)

# The transactions table is a landing table, written by the payment feed as it arrives: like
# most raw feeds it enforces no NOT NULL beyond the key. Broken rows are caught by mlgate's
# record rules (gate bad_record_ratio) and quarantined, not refused by the source.
transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", Integer, primary_key=True, autoincrement=False),
    Column("card_id", Integer, nullable=True),
    Column("merchant_id", Integer, nullable=True),
    Column("amount", Numeric(12, 2), nullable=True, comment="billed amount, card's home currency"),
    Column("currency", String(3), nullable=True, comment="merchant's currency, ISO 4217"),
    Column(
        "country",
        String(2),
        nullable=True,
        comment="where the purchase was made: the terminal's country, or the buyer's IP for ecom",
    ),
    Column("channel", String(8), nullable=True, comment="pos | ecom | atm"),
    Column("device_id", String(32), nullable=True, comment="ecom only; null for pos and atm"),
    Column("created_at", UtcDateTime, nullable=True, comment="naive UTC"),
    Index("ix_transactions_created_at", "created_at"),
)

chargebacks = Table(
    "chargebacks",
    metadata,
    Column("chargeback_id", Integer, primary_key=True, autoincrement=False),
    Column("transaction_id", Integer, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False, comment="naive UTC"),
    Column("reason_code", String(8), nullable=False),
    Index("ix_chargebacks_reported_at", "reported_at"),
)

# Creation order: dimensions first, then facts (there are no foreign keys, but a reader
# expects to see dimensions before the rows that point at them).
TABLE_NAMES: tuple[str, ...] = tuple(metadata.tables)
