"""Demo source data: a card issuer's customers, cards, merchants, transactions and chargebacks.

`generate()` simulates `days` whole days of card transactions ending with `end_date` and
writes them, through SQLAlchemy, into the tables of `mlgate.source_schema` at any URL.
The simulation is vectorised with numpy and seeded: the same arguments always give the
same rows, whatever the wall-clock time.

What is simulated
-----------------
* Customers live mostly in the US; each has 1-3 cards and 1-2 devices it shops online with.
* Each card has its own typical amount (log-normal amounts around it), its own activity
  level and a handful of regular merchants. Legit spending happens mostly in the daytime of
  the home country, mostly in the home country; a few cards travel abroad for some days.
* Fraud (about 0.3% of transactions) comes in episodes on compromised cards:
  card testing (a burst of tiny ecom charges within minutes, then large ones),
  card-not-present fraud (large ecom purchases on risky merchants from a new device),
  counterfeit cards (in-store / ATM use, mostly abroad) and a few "stealth" frauds
  that look like the card's normal spending. Night time, new devices, foreign countries,
  risky merchant categories and unusual amounts are all more frequent in fraud, but no
  signal is present in every fraud, and legit rows show each of them now and then.
* About 90% of fraudulent transactions get a chargeback, reported 1-40 days later (mostly
  within 10); a few legit transactions get one too (friendly fraud). The database is a
  snapshot at the end of the period: chargebacks reported later are not written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Table, create_engine, inspect, literal, select
from sqlalchemy.engine import make_url
from tqdm import tqdm

from mlgate import source_schema as schema

DEFAULT_END_DATE = dt.date(2026, 10, 31)
DEFAULT_DAYS = 60
DEFAULT_TRANSACTIONS = 1_000_000
DEFAULT_SEED = 7
INSERT_CHUNK_ROWS = 50_000

DAY = 86_400
HOUR = 3_600

# Share of transactions that are fraud the simulation aims at.
_FRAUD_RATE_TARGET = 0.0035
_CHARGEBACK_SHARE = 0.9
_FRIENDLY_FRAUD_RATE = {"pos": 0.0001, "ecom": 0.0005, "atm": 0.0}


class SourceExistsError(RuntimeError):
    """The target database already holds the demo tables with data (pass --replace)."""


# code, UTC offset (hours, no DST), currency, share of customers, share of merchants,
# weight as a travel destination, weight as a fraudster's country.
_COUNTRIES: list[tuple[str, int, str, float, float, float, float]] = [
    ("US", -5, "USD", 0.80, 0.58, 0.20, 0.05),
    ("CA", -5, "CAD", 0.05, 0.05, 0.12, 0.02),
    ("GB", 0, "GBP", 0.04, 0.06, 0.12, 0.08),
    ("DE", 1, "EUR", 0.02, 0.04, 0.07, 0.03),
    ("FR", 1, "EUR", 0.02, 0.04, 0.10, 0.03),
    ("ES", 1, "EUR", 0.01, 0.03, 0.09, 0.02),
    ("IT", 1, "EUR", 0.01, 0.03, 0.08, 0.02),
    ("MX", -6, "MXN", 0.04, 0.05, 0.14, 0.05),
    ("JP", 9, "JPY", 0.01, 0.02, 0.05, 0.01),
    ("BR", -3, "BRL", 0.0, 0.02, 0.03, 0.12),
    ("NG", 1, "NGN", 0.0, 0.015, 0.005, 0.14),
    ("RO", 2, "RON", 0.0, 0.015, 0.01, 0.12),
    ("RU", 3, "RUB", 0.0, 0.015, 0.005, 0.12),
    ("ID", 7, "IDR", 0.0, 0.015, 0.02, 0.10),
    ("CN", 8, "CNY", 0.0, 0.02, 0.02, 0.09),
]
COUNTRY_CODES = np.array([c[0] for c in _COUNTRIES])
_OFFSET = np.array([c[1] for c in _COUNTRIES])
_CURRENCY = np.array([c[2] for c in _COUNTRIES])
_CUSTOMER_W = np.array([c[3] for c in _COUNTRIES])
_MERCHANT_W = np.array([c[4] for c in _COUNTRIES])
_TRAVEL_W = np.array([c[5] for c in _COUNTRIES])
_FRAUDSTER_W = np.array([c[6] for c in _COUNTRIES])

# category, share of merchants, share of its merchants that sell online, amount multiplier.
# "atm" merchants are cash machines (channel atm).
_CATEGORIES: list[tuple[str, float, float, float]] = [
    ("grocery", 0.20, 0.08, 1.0),
    ("restaurants", 0.19, 0.05, 0.7),
    ("fuel", 0.09, 0.0, 0.9),
    ("pharmacy", 0.06, 0.15, 0.6),
    ("retail", 0.14, 0.35, 1.3),
    ("entertainment", 0.05, 0.5, 0.6),
    ("travel", 0.04, 0.75, 4.0),
    ("electronics", 0.04, 0.45, 3.0),
    ("jewelry", 0.015, 0.25, 4.0),
    ("gift_cards", 0.015, 0.5, 1.2),
    ("digital_goods", 0.05, 1.0, 0.3),
    ("crypto", 0.005, 1.0, 3.0),
    ("atm", 0.05, 0.0, 1.6),
]
CATEGORY_NAMES = np.array([c[0] for c in _CATEGORIES])
_CATEGORY_W = np.array([c[1] for c in _CATEGORIES])
_CATEGORY_ECOM = np.array([c[2] for c in _CATEGORIES])
_CATEGORY_AMOUNT = np.array([c[3] for c in _CATEGORIES])
RISKY_CATEGORIES = ("electronics", "jewelry", "gift_cards", "crypto", "digital_goods")
_CAT = {name: i for i, name in enumerate(CATEGORY_NAMES)}
_CARD_TESTING_CATEGORIES = [_CAT["digital_goods"], _CAT["gift_cards"]]
_CASH_OUT_CATEGORIES = [_CAT["electronics"], _CAT["jewelry"], _CAT["gift_cards"], _CAT["crypto"]]
_RISKY_IDX = [_CAT[name] for name in RISKY_CATEGORIES]
_RISKY_STORE_CATEGORIES = [_CAT["electronics"], _CAT["jewelry"], _CAT["gift_cards"]]

CHANNELS = np.array(schema.CHANNELS)  # pos, ecom, atm
POS, ECOM, ATM = 0, 1, 2

# Local hour of day: legit spending (daytime) and fraud that prefers the night.
_DAY_HOURS = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 3.0, 4.5, 5.5, 6.0, 6.5,
     7.0, 6.5, 6.0, 6.0, 6.5, 7.0, 7.0, 6.5, 5.5, 4.0, 2.8, 1.8]
)  # fmt: skip
_NIGHT_HOURS = np.array(
    [6.0, 7.0, 7.0, 6.0, 5.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0,
     1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 5.0]
)  # fmt: skip
_DAY_HOURS = _DAY_HOURS / _DAY_HOURS.sum()
_NIGHT_HOURS = _NIGHT_HOURS / _NIGHT_HOURS.sum()
_WEEKDAY_W = np.array([1.0, 1.0, 1.0, 1.02, 1.12, 1.15, 0.95])  # Monday .. Sunday

# Fraud episode kinds: probability, mean number of transactions, chance of a night start.
_EPISODES = {
    "card_testing": (0.35, 6.5, 0.5),
    "card_not_present": (0.30, 2.5, 0.4),
    "counterfeit": (0.20, 3.0, 0.3),
    "stealth": (0.15, 1.5, 0.0),
}

_NAME_PREFIXES = np.array(
    ["Sunrise", "Blue Oak", "Metro", "Corner", "Golden", "Northside", "Harbor", "Summit",
     "Green Leaf", "Silver", "Urban", "Maple", "Riverside", "Pioneer", "Evergreen", "Atlas",
     "Cedar", "Lakeview", "Union", "Starlight", "Redwood", "Main Street", "Crescent", "Nova"]
)  # fmt: skip
_NAME_NOUNS = {
    "grocery": ["Market", "Grocers", "Foods", "Supermarket"],
    "restaurants": ["Diner", "Bistro", "Kitchen", "Grill", "Pizza", "Cafe"],
    "fuel": ["Fuel", "Gas", "Petroleum", "Service Station"],
    "pharmacy": ["Pharmacy", "Drugstore", "Chemist"],
    "retail": ["Outfitters", "Store", "Apparel", "Home Goods"],
    "entertainment": ["Cinema", "Tickets", "Streaming", "Arcade"],
    "travel": ["Airlines", "Travel", "Hotels", "Rentals"],
    "electronics": ["Electronics", "Tech", "Computers", "Mobile"],
    "jewelry": ["Jewelers", "Diamonds", "Watches"],
    "gift_cards": ["Gift Cards", "Vouchers", "Prepaid"],
    "digital_goods": ["Games", "Apps", "Downloads", "Cloud"],
    "crypto": ["Crypto Exchange", "Coin", "Bitcoin ATM Online"],
    "atm": ["Bank ATM", "Cash Point", "ATM"],
}


@dataclass
class _Pool:
    """Merchants to draw from, with their popularity as drawing weights."""

    ids: np.ndarray
    p: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, popularity: np.ndarray) -> _Pool | None:
        ids = np.flatnonzero(mask)
        if len(ids) == 0:
            return None
        weights = popularity[ids]
        return cls(ids, weights / weights.sum())

    def draw(self, rng: np.random.Generator, size: int | None = None):
        return self.ids[rng.choice(len(self.ids), size=size, p=self.p)]


@dataclass
class _World:
    """Customers, cards and merchants, as arrays indexed from 0."""

    customer_country: np.ndarray
    customer_created: np.ndarray  # seconds relative to the period start (negative)
    customer_devices: np.ndarray  # (n_customers, 2) device codes
    customer_n_devices: np.ndarray
    card_customer: np.ndarray
    card_type: np.ndarray
    card_issued: np.ndarray
    card_mu: np.ndarray  # log of the card's typical amount
    card_sigma: np.ndarray
    card_activity: np.ndarray
    card_regulars: np.ndarray  # (n_cards, K) merchant indices
    merchant_country: np.ndarray
    merchant_category: np.ndarray
    merchant_channel: np.ndarray
    merchant_popularity: np.ndarray
    merchant_name: np.ndarray

    @property
    def card_country(self) -> np.ndarray:
        return self.customer_country[self.card_customer]

    def pool(self, mask: np.ndarray) -> _Pool | None:
        return _Pool.of(mask, self.merchant_popularity)


_REGULAR_SLOTS = 10
_REGULAR_W = 0.75 ** np.arange(_REGULAR_SLOTS)
_REGULAR_W = _REGULAR_W / _REGULAR_W.sum()


def _sizes(transactions: int, days: int) -> tuple[int, int]:
    """Cards and merchants for a volume: about 0.83 transactions per card and day
    (20k cards and 2k merchants for the default 1M transactions over 60 days)."""
    per_day = transactions / days
    cards = max(300, round(per_day * 1.2))
    merchants = max(200, round(cards / 10))
    return cards, merchants


def _build_world(rng: np.random.Generator, n_cards: int, n_merchants: int) -> _World:
    n_countries = len(_COUNTRIES)

    # Merchants: every country gets a few stores and an ATM, every risky category an online
    # shop, so each draw below has somewhere to go; the rest is random.
    base: list[tuple[int, int, int]] = []  # (country, category, channel)
    for country in range(n_countries):
        for name in ("grocery", "restaurants", "fuel", "retail", "electronics"):
            base.append((country, _CAT[name], POS))
        base.append((country, _CAT["atm"], ATM))
    for name in (*RISKY_CATEGORIES, "travel", "retail"):
        base.append((0, _CAT[name], ECOM))
    n_random = max(0, n_merchants - len(base))
    m_country = rng.choice(n_countries, size=n_random, p=_MERCHANT_W / _MERCHANT_W.sum())
    m_category = rng.choice(len(_CATEGORIES), size=n_random, p=_CATEGORY_W / _CATEGORY_W.sum())
    online = rng.random(n_random) < _CATEGORY_ECOM[m_category]
    m_channel = np.where(m_category == _CAT["atm"], ATM, np.where(online, ECOM, POS))
    base_arr = np.array(base)
    merchant_country = np.concatenate([base_arr[:, 0], m_country])
    merchant_category = np.concatenate([base_arr[:, 1], m_category])
    merchant_channel = np.concatenate([base_arr[:, 2], m_channel])
    n_m = len(merchant_country)
    popularity = rng.lognormal(0.0, 1.0, size=n_m)
    prefixes = _NAME_PREFIXES[rng.integers(0, len(_NAME_PREFIXES), size=n_m)]
    pick = rng.random(n_m)
    names = np.empty(n_m, dtype=object)
    for cat, nouns in _NAME_NOUNS.items():
        where = merchant_category == _CAT[cat]
        noun = np.array(nouns)[(pick[where] * len(nouns)).astype(int)]
        names[where] = np.char.add(np.char.add(prefixes[where], " "), noun)
    names = np.char.add(names.astype(str), np.char.add(" #", (np.arange(n_m) + 1).astype(str)))

    # Customers and their cards (1-3 each).
    n_customers = max(100, round(n_cards / 1.5))
    customer_country = rng.choice(n_countries, size=n_customers, p=_CUSTOMER_W / _CUSTOMER_W.sum())
    customer_created = -rng.integers(30 * DAY, 3650 * DAY, size=n_customers)
    customer_devices = rng.integers(1, 2**62, size=(n_customers, 2))
    customer_n_devices = rng.choice([1, 2], size=n_customers, p=[0.6, 0.4])
    per_customer = rng.choice([1, 2, 3], size=n_customers, p=[0.6, 0.3, 0.1])
    card_customer = np.repeat(np.arange(n_customers), per_customer)
    n_c = len(card_customer)
    card_type = rng.choice(3, size=n_c, p=[0.5, 0.42, 0.08])
    created = customer_created[card_customer]
    card_issued = created + (rng.random(n_c) * (-created - DAY)).astype(np.int64)
    card_mu = rng.normal(np.log(45.0), 0.55, size=n_c)
    card_sigma = rng.uniform(0.35, 0.8, size=n_c)
    card_activity = rng.gamma(1.3, 1.0, size=n_c)

    world = _World(
        customer_country=customer_country,
        customer_created=customer_created,
        customer_devices=customer_devices,
        customer_n_devices=customer_n_devices,
        card_customer=card_customer,
        card_type=card_type,
        card_issued=card_issued,
        card_mu=card_mu,
        card_sigma=card_sigma,
        card_activity=card_activity,
        card_regulars=np.zeros((n_c, _REGULAR_SLOTS), dtype=np.int64),
        merchant_country=merchant_country,
        merchant_category=merchant_category,
        merchant_channel=merchant_channel,
        merchant_popularity=popularity,
        merchant_name=names,
    )
    # Regular merchants: drawn from the home country's merchants by popularity.
    card_country = world.card_country
    for country in range(n_countries):
        cards_here = np.flatnonzero(card_country == country)
        if len(cards_here):
            pool = world.pool(merchant_country == country)
            world.card_regulars[cards_here] = pool.draw(rng, (len(cards_here), _REGULAR_SLOTS))
    return world


def _local_to_period(seconds_local: np.ndarray, offset_hours: np.ndarray, period: int):
    """Local wall-clock seconds since the period start -> UTC seconds since the period start.

    A time the offset pushes out of the period wraps around to its other end (at the same
    time of day), which keeps the density of every UTC hour even across the period."""
    t = seconds_local - offset_hours * HOUR
    t = np.where(t < 0, t + period, t)
    return np.where(t >= period, t - period, t)


def _draw_by_group(rng, groups: np.ndarray, pools: dict[int, _Pool]) -> np.ndarray:
    out = np.empty(len(groups), dtype=np.int64)
    for key in np.unique(groups):
        where = np.flatnonzero(groups == key)
        out[where] = pools[key].draw(rng, len(where))
    return out


def _other_country(rng, home: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One country per row, drawn by `weights` but never the row's home country."""
    out = np.empty(len(home), dtype=np.int64)
    for country in np.unique(home):
        where = np.flatnonzero(home == country)
        w = weights.copy()
        w[country] = 0.0
        out[where] = rng.choice(len(w), size=len(where), p=w / w.sum())
    return out


def _legit(rng, world: _World, n: int, days: int, start_weekday: int) -> dict[str, np.ndarray]:
    period = days * DAY
    n_cards = len(world.card_customer)
    n_countries = len(_COUNTRIES)
    expected = world.card_activity / world.card_activity.sum() * n
    card = np.repeat(np.arange(n_cards), rng.poisson(expected))
    size = len(card)
    home = world.card_country[card]

    weekday_w = _WEEKDAY_W[(start_weekday + np.arange(days)) % 7]
    day = rng.choice(days, size=size, p=weekday_w / weekday_w.sum())
    hour = rng.choice(24, size=size, p=_DAY_HOURS)
    local = day * DAY + hour * HOUR + rng.integers(0, HOUR, size=size)
    t = _local_to_period(local, _OFFSET[home], period)

    # Some cards travel abroad for a few days and shop there.
    has_trip = rng.random(n_cards) < min(0.5, 0.003 * days)
    trip_start = rng.integers(0, period, size=n_cards)
    trip_end = trip_start + rng.integers(2, 12, size=n_cards) * DAY
    trip_country = _other_country(rng, world.card_country, _TRAVEL_W)
    traveling = has_trip[card] & (t >= trip_start[card]) & (t < trip_end[card])
    where = np.where(traveling, trip_country[card], home)

    u = rng.random(size)
    regular = np.where(traveling, u >= 0.85, u < 0.70)
    local_shop = ~traveling & (u >= 0.70) & (u < 0.975)
    cross_border = ~traveling & (u >= 0.975)
    abroad = traveling & (u < 0.85)
    merchant = np.empty(size, dtype=np.int64)
    slot = rng.choice(_REGULAR_SLOTS, size=int(regular.sum()), p=_REGULAR_W)
    merchant[regular] = world.card_regulars[card[regular], slot]
    mc = world.merchant_country
    any_pools = {c: world.pool(mc == c) for c in range(n_countries)}
    store_pools = {
        c: world.pool((mc == c) & (world.merchant_channel != ECOM)) for c in range(n_countries)
    }
    merchant[local_shop] = _draw_by_group(rng, home[local_shop], any_pools)
    merchant[abroad] = _draw_by_group(rng, where[abroad], store_pools)
    merchant[cross_border] = world.pool(world.merchant_channel == ECOM).draw(
        rng, int(cross_border.sum())
    )

    channel = world.merchant_channel[merchant]
    ecom = channel == ECOM
    # Ecom: the buyer's (IP) country; in store / ATM: the terminal's country.
    country = np.where(ecom, where, mc[merchant])

    customer = world.card_customer[card]
    own = rng.integers(0, 2, size=size) % world.customer_n_devices[customer]
    device = world.customer_devices[customer, own]
    new_device = rng.random(size) < 0.03  # a new phone, a borrowed laptop
    device = np.where(new_device, rng.integers(1, 2**62, size=size), device)
    device = np.where(ecom, device, 0)

    category = world.merchant_category[merchant]
    log_amount = (
        world.card_mu[card]
        + np.log(_CATEGORY_AMOUNT[category])
        + world.card_sigma[card] * rng.standard_normal(size)
    )
    amount = np.clip(np.exp(log_amount), 0.5, 20_000.0)
    atm = channel == ATM
    amount[atm] = np.clip(np.round(amount[atm] / 20.0) * 20.0, 20.0, 1000.0)
    return {
        "card": card,
        "merchant": merchant,
        "amount": amount,
        "country": country,
        "channel": channel,
        "device": device,
        "t": t,
        "episode": np.full(size, -1),
    }


def _fraud(
    rng, world: _World, n_episodes: int, days: int, legit_cards: np.ndarray
) -> dict[str, np.ndarray]:
    """Fraud episodes on compromised cards, one episode per card."""
    period = days * DAY
    n_countries = len(_COUNTRIES)
    mc, mch, mcat = world.merchant_country, world.merchant_channel, world.merchant_category
    ecom = mch == ECOM
    testing_pool = world.pool(ecom & np.isin(mcat, _CARD_TESTING_CATEGORIES))
    cash_out_pool = world.pool(ecom & np.isin(mcat, _CASH_OUT_CATEGORIES))
    risky_ecom_pool = world.pool(ecom & np.isin(mcat, _RISKY_IDX))
    any_ecom_pool = world.pool(ecom)
    store = ~ecom
    store_pools = [world.pool(store & (mc == c)) for c in range(n_countries)]
    risky_store_pools = [
        world.pool((mch == POS) & (mc == c) & np.isin(mcat, _RISKY_STORE_CATEGORIES))
        for c in range(n_countries)
    ]
    atm_pools = [world.pool((mch == ATM) & (mc == c)) for c in range(n_countries)]
    home_pools = [world.pool(mc == c) for c in range(n_countries)]

    # Prepaid cards are compromised twice as often.
    candidates = np.unique(legit_cards)
    weights = np.where(world.card_type[candidates] == 2, 2.0, 1.0)
    n_episodes = min(n_episodes, len(candidates))
    victims = rng.choice(candidates, size=n_episodes, replace=False, p=weights / weights.sum())
    kinds = list(_EPISODES)
    kind_p = np.array([v[0] for v in _EPISODES.values()])
    fraud_devices = rng.integers(1, 2**62, size=max(20, n_episodes // 4))
    fraudster_p = _FRAUDSTER_W / _FRAUDSTER_W.sum()

    rows: dict[str, list] = {k: [] for k in ("card", "merchant", "amount", "country", "device")}
    rows.update(t=[], episode=[])
    for episode, card in enumerate(victims):
        kind = kinds[rng.choice(len(kinds), p=kind_p)]
        home = int(world.card_country[card])
        customer = world.card_customer[card]
        typical = float(np.exp(world.card_mu[card]))
        hours = _NIGHT_HOURS if rng.random() < _EPISODES[kind][2] else _DAY_HOURS
        local0 = rng.integers(0, days) * DAY + rng.choice(24, p=hours) * HOUR
        t0 = int(_local_to_period(local0 + rng.integers(0, HOUR), _OFFSET[home], period))
        own_device = world.customer_devices[
            customer, rng.integers(world.customer_n_devices[customer])
        ]

        def thief_device(p: float, own_device: int = own_device) -> int:
            """Mostly a fraudster's device (shared across their victims), else the card's own."""
            if rng.random() < p:
                return fraud_devices[rng.integers(len(fraud_devices))]
            return own_device

        def foreign(p: float, home: int = home) -> int:
            if rng.random() >= p:
                return home
            w = fraudster_p.copy()
            w[home] = 0.0
            return int(rng.choice(n_countries, p=w / w.sum()))

        if kind == "card_testing":
            n_small, n_big = int(rng.integers(2, 8)), int(rng.integers(1, 4))
            gaps = rng.integers(15, 240, size=n_small)
            t_small = t0 + np.cumsum(gaps) - gaps[0]
            t_big = t_small[-1] + np.cumsum(rng.integers(60, 3600, size=n_big))
            testers = testing_pool.draw(rng, 2)
            merchants = np.concatenate(
                [testers[rng.integers(0, 2, size=n_small)], cash_out_pool.draw(rng, n_big)]
            )
            small = np.round(rng.uniform(0.5, 5.0, size=n_small), 2)
            small[rng.random(n_small) < 0.3] = 1.0
            big = np.clip(typical * rng.lognormal(np.log(6.0), 0.6, size=n_big), 60, 6000)
            times = np.concatenate([t_small, t_big])
            amounts = np.concatenate([small, big])
            device = thief_device(0.9)
            devices = np.full(len(times), device)
            countries = np.full(len(times), foreign(0.55))
        elif kind == "card_not_present":
            k = int(rng.integers(1, 5))
            times = t0 + np.sort(rng.integers(0, 36 * HOUR, size=k))
            times[0] = t0
            pool = risky_ecom_pool if rng.random() < 0.75 else any_ecom_pool
            merchants = pool.draw(rng, k)
            amounts = np.clip(typical * rng.lognormal(np.log(4.0), 0.7, size=k), 5, 8000)
            device = thief_device(0.75)
            devices = np.full(k, device)
            countries = np.full(k, foreign(0.4))
        elif kind == "counterfeit":
            k = int(rng.integers(1, 6))
            times = t0 + np.sort(rng.integers(0, 20 * HOUR, size=k))
            times[0] = t0
            country = foreign(0.8)
            u = rng.random()
            pool = (
                risky_store_pools[country]
                if u < 0.5
                else atm_pools[country]
                if u < 0.8
                else store_pools[country]
            ) or store_pools[country]
            merchants = pool.draw(rng, k)
            amounts = np.clip(typical * rng.lognormal(np.log(3.5), 0.7, size=k), 5, 8000)
            atm = mch[merchants] == ATM
            amounts[atm] = np.clip(np.round(amounts[atm] / 20) * 20, 20, 1000)
            devices = np.zeros(k, dtype=np.int64)
            countries = mc[merchants]
        else:  # stealth: looks like the card's own spending
            k = int(rng.integers(1, 3))
            times = t0 + np.sort(rng.integers(0, 24 * HOUR, size=k))
            times[0] = t0
            slots = rng.choice(_REGULAR_SLOTS, size=k, p=_REGULAR_W)
            merchants = np.where(
                rng.random(k) < 0.5, world.card_regulars[card, slots], home_pools[home].draw(rng, k)
            )
            amounts = np.exp(
                world.card_mu[card]
                + np.log(_CATEGORY_AMOUNT[mcat[merchants]])
                + world.card_sigma[card] * rng.standard_normal(k)
                + np.log(1.5)
            )
            amounts = np.clip(amounts, 1.0, 8000)
            atm = mch[merchants] == ATM
            amounts[atm] = np.clip(np.round(amounts[atm] / 20) * 20, 20, 1000)
            devices = np.full(k, own_device)
            countries = np.where(mch[merchants] == ECOM, home, mc[merchants])

        k = len(times)
        rows["card"].append(np.full(k, card))
        rows["merchant"].append(np.asarray(merchants))
        rows["amount"].append(np.asarray(amounts, dtype=float))
        rows["country"].append(np.asarray(countries))
        rows["device"].append(np.where(mch[merchants] == ECOM, devices, 0))
        rows["t"].append(np.asarray(times, dtype=np.int64))
        rows["episode"].append(np.full(k, episode))

    out = {k: np.concatenate(v) if v else np.empty(0, dtype=np.int64) for k, v in rows.items()}
    out["channel"] = mch[out["merchant"]] if len(out["merchant"]) else np.empty(0, dtype=np.int64)
    keep = out["t"] < period  # episodes running past the end are cut off
    return {k: v[keep] for k, v in out.items()}


def _chargebacks(rng, tx: pd.DataFrame, period: int) -> pd.DataFrame:
    """Chargebacks for most frauds and a few legit rows, as known at the end of the period."""
    t = tx["t"].to_numpy()
    episode = tx["episode"].to_numpy()
    channel = tx["channel"].to_numpy()
    fraud = episode >= 0
    n_episodes = int(episode.max()) + 1 if fraud.any() else 0

    # The cardholder notices the episode and disputes it: one report delay per episode.
    delay = ((1.0 + rng.gamma(2.0, 2.5, size=max(n_episodes, 1))) * DAY).astype(np.int64)
    episode_end = np.zeros(max(n_episodes, 1), dtype=np.int64)
    np.maximum.at(episode_end, episode[fraud], t[fraud])
    jitter = rng.integers(0, 6 * HOUR, size=len(t))
    fraud_reported = episode_end[np.maximum(episode, 0)] + delay[np.maximum(episode, 0)] + jitter
    disputed = fraud & (rng.random(len(t)) < _CHARGEBACK_SHARE)

    friendly_p = np.array([_FRIENDLY_FRAUD_RATE[c] for c in schema.CHANNELS])[channel]
    friendly = ~fraud & (rng.random(len(t)) < friendly_p)
    friendly_reported = t + ((1.0 + rng.gamma(2.0, 5.0, size=len(t))) * DAY).astype(np.int64)

    reported = np.where(fraud, fraud_reported, friendly_reported)
    reported = np.clip(reported, t + DAY, t + 40 * DAY)
    charged = (disputed | friendly) & (reported < period)

    fraud_codes = np.array([["10.3", "4840"], ["10.4", "4837"], ["10.3", "4840"]])
    friendly_codes = np.array(["13.1", "13.3", "4853", "4855"])
    pick = rng.integers(0, 4, size=len(t))
    reason = np.where(fraud, fraud_codes[channel, pick % 2], friendly_codes[pick])

    cb = pd.DataFrame(
        {
            "transaction_id": tx["transaction_id"].to_numpy()[charged],
            "reported": reported[charged],
            "reason_code": reason[charged],
        }
    )
    cb = cb.sort_values(["reported", "transaction_id"], kind="stable").reset_index(drop=True)
    cb.insert(0, "chargeback_id", np.arange(1, len(cb) + 1))
    return cb


def _expected_episode_size() -> float:
    return sum(p * size for p, size, _ in _EPISODES.values())


def _check_sizes(days: int, transactions: int) -> None:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if transactions < 100:
        raise ValueError(f"transactions must be at least 100, got {transactions}")


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def simulate(
    *,
    days: int = DEFAULT_DAYS,
    end_date: dt.date | str = DEFAULT_END_DATE,
    transactions: int = DEFAULT_TRANSACTIONS,
    seed: int = DEFAULT_SEED,
) -> dict[str, pd.DataFrame]:
    """The demo tables as DataFrames, keyed by table name, without writing anything.

    Columns are those of `mlgate.source_schema`; `transactions` has one extra column,
    `is_fraud` (the ground truth, which the database does not get).
    """
    _check_sizes(days, transactions)
    end_date = _as_date(end_date)
    start_date = end_date - dt.timedelta(days=days - 1)
    start = np.datetime64(start_date, "s")
    period = days * DAY
    rng = np.random.default_rng(seed)

    n_cards, n_merchants = _sizes(transactions, days)
    world = _build_world(rng, n_cards, n_merchants)
    n_episodes = max(1, round(transactions * _FRAUD_RATE_TARGET / _expected_episode_size()))
    n_fraud_expected = n_episodes * _expected_episode_size()
    legit = _legit(rng, world, round(transactions - n_fraud_expected), days, start_date.weekday())
    fraud = _fraud(rng, world, n_episodes, days, legit["card"])

    tx = pd.DataFrame({k: np.concatenate([legit[k], fraud[k]]) for k in legit})
    tx = tx.sort_values(["t", "card", "merchant"], kind="stable").reset_index(drop=True)
    tx["transaction_id"] = np.arange(1, len(tx) + 1)
    cb = _chargebacks(rng, tx, period)

    merchant = tx["merchant"].to_numpy()
    device = tx["device"].to_numpy()
    device_ids = np.full(len(tx), None, dtype=object)
    has_device = device != 0
    device_ids[has_device] = [f"{d:016x}" for d in device[has_device].tolist()]
    transactions_df = pd.DataFrame(
        {
            "transaction_id": tx["transaction_id"].to_numpy(),
            "card_id": tx["card"].to_numpy() + 1,
            "merchant_id": merchant + 1,
            "amount": np.round(tx["amount"].to_numpy(), 2),
            "currency": _CURRENCY[world.merchant_country[merchant]],
            "country": COUNTRY_CODES[tx["country"].to_numpy()],
            "channel": CHANNELS[tx["channel"].to_numpy()],
            "device_id": device_ids,
            "created_at": start + tx["t"].to_numpy(),
            "is_fraud": tx["episode"].to_numpy() >= 0,
        }
    )
    chargebacks_df = pd.DataFrame(
        {
            "chargeback_id": cb["chargeback_id"].to_numpy(),
            "transaction_id": cb["transaction_id"].to_numpy(),
            "reported_at": start + cb["reported"].to_numpy(),
            "reason_code": cb["reason_code"].to_numpy(),
        }
    )
    n_customers = len(world.customer_country)
    customers_df = pd.DataFrame(
        {
            "customer_id": np.arange(1, n_customers + 1),
            "home_country": COUNTRY_CODES[world.customer_country],
            "created_at": start + world.customer_created,
        }
    )
    n_c = len(world.card_customer)
    cards_df = pd.DataFrame(
        {
            "card_id": np.arange(1, n_c + 1),
            "customer_id": world.card_customer + 1,
            "card_type": np.array(schema.CARD_TYPES)[world.card_type],
            "issued_at": start + world.card_issued,
        }
    )
    n_m = len(world.merchant_country)
    merchants_df = pd.DataFrame(
        {
            "merchant_id": np.arange(1, n_m + 1),
            "merchant_name": world.merchant_name,
            "merchant_category": CATEGORY_NAMES[world.merchant_category],
            "merchant_country": COUNTRY_CODES[world.merchant_country],
        }
    )
    return {
        "customers": customers_df,
        "cards": cards_df,
        "merchants": merchants_df,
        "transactions": transactions_df,
        "chargebacks": chargebacks_df,
    }


def _python_columns(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Column values as plain Python objects (int, float, str, None, datetime)."""
    out = []
    for name in columns:
        values = frame[name].to_numpy()
        if np.issubdtype(values.dtype, np.datetime64):
            out.append(values.astype("datetime64[s]").astype(object).tolist())
        elif values.dtype == object:
            out.append(list(values))
        else:
            out.append(values.tolist())
    return out


def _insert(conn, table: Table, frame: pd.DataFrame, bar: tqdm) -> None:
    columns = [c.name for c in table.columns]
    for first in range(0, len(frame), INSERT_CHUNK_ROWS):
        values = _python_columns(frame.iloc[first : first + INSERT_CHUNK_ROWS], columns)
        rows = [dict(zip(columns, row)) for row in zip(*values)]
        conn.execute(table.insert(), rows)
        bar.update(len(rows))


def _prepare_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):  # a URI filename (?uri=true)
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _tables_with_data(engine) -> list[str]:
    existing = set(inspect(engine).get_table_names())
    found = []
    with engine.connect() as conn:
        for name in schema.TABLE_NAMES:
            if name in existing:
                table = schema.metadata.tables[name]
                if conn.execute(select(literal(1)).select_from(table).limit(1)).first():
                    found.append(name)
    return found


def generate(
    url: str,
    *,
    days: int = DEFAULT_DAYS,
    end_date: dt.date | str = DEFAULT_END_DATE,
    transactions: int = DEFAULT_TRANSACTIONS,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
    progress: bool = True,
) -> dict:
    """Simulate the demo source data and write it to the database at `url`.

    Transactions cover `days` whole days ending with `end_date` (inclusive), about
    `transactions` rows in all. Raises SourceExistsError if the tables already hold data,
    unless `replace` is true (then they are dropped and created again).
    Returns a summary: url, rows per table, fraud_rate, labelled_fraud_rate, start, end.
    """
    _check_sizes(days, transactions)
    end_date = _as_date(end_date)
    start_date = end_date - dt.timedelta(days=days - 1)
    shown_url = make_url(url).render_as_string(hide_password=True)
    _prepare_sqlite_folder(url)
    engine = create_engine(url)
    try:
        if not replace:
            filled = _tables_with_data(engine)
            if filled:
                raise SourceExistsError(
                    f"{shown_url} already holds source data (tables: {', '.join(filled)}); "
                    "pass --replace (replace=True) to drop those tables and generate them again"
                )
        began = time.monotonic()
        if progress:
            print(
                f"simulating ~{transactions:,} transactions, {start_date} .. {end_date} "
                f"(seed {seed})",
                file=sys.stderr,
            )
        frames = simulate(days=days, end_date=end_date, transactions=transactions, seed=seed)
        total = sum(len(f) for f in frames.values())
        with tqdm(
            total=total,
            desc="writing source tables",
            unit="row",
            unit_scale=True,
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            schema.metadata.drop_all(engine, checkfirst=True)
            schema.metadata.create_all(engine)
            with engine.begin() as conn:
                for name, table in schema.metadata.tables.items():
                    bar.set_postfix_str(name)
                    _insert(conn, table, frames[name], bar)
    finally:
        engine.dispose()

    tx = frames["transactions"]
    labelled = frames["chargebacks"]["transaction_id"].nunique()
    summary = {
        "url": shown_url,
        "rows": {name: len(frame) for name, frame in frames.items()},
        "fraud_rate": round(float(tx["is_fraud"].mean()), 6),
        "labelled_fraud_rate": round(labelled / len(tx), 6),
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
    }
    if progress:
        print(f"done in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return summary


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `generate` command: url, days, end_date, transactions, seed, replace
    (generate()'s keywords) and quiet (call generate with progress=not quiet).
    --url defaults to None: the caller substitutes the configured source URL."""
    parser.add_argument(
        "--url",
        default=None,
        help="SQLAlchemy URL of the database to fill (default: the source URL of the "
        "pipeline config, i.e. $MLGATE_SOURCE_URL or source.url in mlgate.yaml)",
    )
    parser.add_argument(
        "--days",
        type=_positive_int,
        default=DEFAULT_DAYS,
        help=f"number of whole days of transactions, ending with --end-date "
        f"(default: {DEFAULT_DAYS})",
    )
    parser.add_argument(
        "--end-date",
        type=_iso_date,
        default=DEFAULT_END_DATE,
        metavar="YYYY-MM-DD",
        help="last day of generated transactions, inclusive; fixed by default so runs are "
        f"reproducible (default: {DEFAULT_END_DATE.isoformat()})",
    )
    parser.add_argument(
        "--transactions",
        type=_positive_int,
        default=DEFAULT_TRANSACTIONS,
        help=f"approximate number of transactions to generate (default: {DEFAULT_TRANSACTIONS})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="random seed; the same seed and options give identical data "
        f"(default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop and recreate the source tables if they already hold data "
        "(without it, existing data is an error)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or messages on stderr",
    )
