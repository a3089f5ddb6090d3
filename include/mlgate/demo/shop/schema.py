"""Schema of the web-shop demo database: page events, orders, visitors (SCD2), products.

SQLAlchemy Core tables, created by `mlgate generate --pipeline shop` in any database
SQLAlchemy reaches (SQLite by default). include/pipelines/shop.yaml names these tables and
columns: `page_events` is the event table imported one day at a time, `orders` holds the
labels (a visitor's paid orders), `visitors` is a slowly changing dimension (one row per
version of a visitor's segment and region, SCD type 2) and `products` a static one.

All datetimes are naive UTC with second resolution.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Numeric, String, Table
from sqlalchemy.dialects import sqlite

# As in the fraud demo: SQLite keeps datetimes as "YYYY-MM-DD HH:MM:SS" text.
UtcDateTime = DateTime().with_variant(sqlite.DATETIME(truncate_microseconds=True), "sqlite")

metadata = MetaData()

EVENT_TYPES = ("page_view", "search", "product_view", "cart", "checkout_start", "purchase")
DEVICES = ("mobile", "desktop", "tablet")
SEGMENTS = ("new", "casual", "loyal", "lapsed")
ORDER_STATUSES = ("paid", "cancelled", "payment_failed")

products = Table(
    "products",
    metadata,
    Column("product_id", Integer, primary_key=True, autoincrement=False),
    Column("category", String(16), nullable=False),
    Column("list_price", Numeric(10, 2), nullable=False, comment="before any promotion"),
)

# One row per version of a visitor: a version is valid from valid_from until valid_to
# (exclusive; null while it is the current one). The CRM moves visitors between segments
# (casual -> loyal, loyal -> lapsed, new -> casual after two weeks) and, now and then, to
# another region when they move house.
visitors = Table(
    "visitors",
    metadata,
    Column("version_id", Integer, primary_key=True, autoincrement=False),
    Column("visitor_id", Integer, nullable=False),
    Column("segment", String(8), nullable=False, comment="new | casual | loyal | lapsed"),
    Column("region", String(16), nullable=False, comment="the shop's sales region"),
    Column("valid_from", UtcDateTime, nullable=False, comment="naive UTC, inclusive"),
    Column("valid_to", UtcDateTime, nullable=True, comment="naive UTC, exclusive; null: current"),
    Index("ix_visitors_visitor_id", "visitor_id"),
)

# The page events are a landing table, written by the tracking feed as it arrives: like most
# raw feeds it enforces no NOT NULL beyond the key. Broken rows are caught by mlgate's record
# rules (gate bad_record_ratio) and quarantined, not refused by the source.
page_events = Table(
    "page_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=False),
    Column("visitor_id", Integer, nullable=True, comment="first-party cookie"),
    Column("session_id", String(16), nullable=True, comment="'s' and 12 hex digits"),
    Column("event_type", String(16), nullable=True, comment=" | ".join(EVENT_TYPES)),
    Column("product_id", Integer, nullable=True, comment="product_view and cart only"),
    Column(
        "price",
        Numeric(10, 2),
        nullable=True,
        comment="product_view, cart: the price shown; checkout_start, purchase: the cart total",
    ),
    Column("device", String(8), nullable=True, comment=" | ".join(DEVICES)),
    Column("country", String(2), nullable=True, comment="ISO 3166-1 alpha-2, from the IP"),
    Column("occurred_at", UtcDateTime, nullable=True, comment="naive UTC"),
    Index("ix_page_events_occurred_at", "occurred_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Integer, primary_key=True, autoincrement=False),
    Column("visitor_id", Integer, nullable=False),
    Column("session_id", String(16), nullable=False),
    Column("total", Numeric(10, 2), nullable=False),
    Column("status", String(16), nullable=False, comment=" | ".join(ORDER_STATUSES)),
    Column("created_at", UtcDateTime, nullable=False, comment="naive UTC: when it was placed"),
    Column("updated_at", UtcDateTime, nullable=False, comment="naive UTC: last status change"),
    Index("ix_orders_created_at", "created_at"),
    Index("ix_orders_updated_at", "updated_at"),
)

# Creation order: dimensions first, then facts.
TABLE_NAMES: tuple[str, ...] = tuple(metadata.tables)
