"""Demo source data of a web shop: visitors, their page events, and the orders they place.

`simulate()` makes `days` whole days of page events ending with `end_date` as the frames of
the tables of `mlgate.demo.shop.schema`. Vectorised with numpy and seeded: the same
arguments always give the same rows, whatever the wall-clock time.

What is simulated
-----------------
* Visitors live in one of 13 sales regions (three of them in the US) and shop in its
  local time, mostly in the evening and more at weekends. Some have been around for years,
  new ones keep arriving, and each one stops coming back some day (about four months on
  average), so the number of active visitors stays level over the period.
* Each visitor is in a segment the CRM keeps in the SCD2 table `visitors`: `new` for two
  weeks after the first visit, then `casual`; a quarter of the older visitors change
  segment during the period (casual -> loyal, loyal -> lapsed, lapsed -> casual ...), and a
  few move to another region. How often a visitor comes, and how often a visit ends in an
  order, depend on the segment *at that time*: a point-in-time join matters.
* Visits are either browsing (pages, searches, product views, a rare abandoned cart) or
  part of a shopping journey: a few visits over some days, focused on one category, with
  more product views and carts as it goes on (more still when it will end in an order).
  Loyal visitors finish more journeys with an order than lapsed
  ones, and weekend journeys more than weekday ones. On the way to an order a visitor often
  starts a checkout, leaves it and comes back to finish it later; a quarter of the journeys
  that end without an order still start a checkout and leave it. So recent carts and
  checkouts announce many orders, but not all (many of a week's orders come from
  journeys not started yet), and not every cart leads to one.
* Each region runs a few promotions of 3-5 days: prices 20% off, more journeys, and more of
  them ending in an order (visible as a drop of the region's mean product-view price).
* An order is placed seconds after its `purchase` page. 86% are paid; 7% are cancelled
  within two days (after being paid) and 7% fail payment: the label counts paid orders
  only. The database is a snapshot at the end of the period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlgate.demo.common import demo_period
from mlgate.demo.shop import schema

DEFAULT_END_DATE = dt.date(2026, 10, 31)
DEFAULT_DAYS = 60
DEFAULT_EVENTS = 800_000
DEFAULT_SEED = 7

DAY = 86_400
HOUR = 3_600
NEVER = np.iinfo(np.int64).max // 4  # "no such change": later than any time of the period

# name, country, UTC offset (hours, no DST), share of visitors
REGIONS: list[tuple[str, str, int, float]] = [
    ("us_east", "US", -5, 0.17),
    ("us_central", "US", -6, 0.09),
    ("us_west", "US", -8, 0.12),
    ("canada", "CA", -5, 0.06),
    ("uk", "GB", 0, 0.10),
    ("germany", "DE", 1, 0.09),
    ("france", "FR", 1, 0.08),
    ("spain", "ES", 1, 0.05),
    ("nordics", "SE", 1, 0.04),
    ("brazil", "BR", -3, 0.06),
    ("mexico", "MX", -6, 0.05),
    ("australia", "AU", 10, 0.05),
    ("japan", "JP", 9, 0.04),
]
REGION_NAMES = np.array([r[0] for r in REGIONS])
REGION_COUNTRY = np.array([r[1] for r in REGIONS])
REGION_OFFSET = np.array([r[2] for r in REGIONS])
_REGION_W = np.array([r[3] for r in REGIONS]) / sum(r[3] for r in REGIONS)
TRAVEL_COUNTRIES = np.array(["US", "GB", "FR", "ES", "IT", "PT", "NL", "MX", "TH", "JP"])

# name, share of products, typical list price
CATEGORIES: list[tuple[str, float, float]] = [
    ("apparel", 0.24, 45.0),
    ("shoes", 0.10, 85.0),
    ("electronics", 0.10, 240.0),
    ("home", 0.15, 60.0),
    ("beauty", 0.12, 25.0),
    ("books", 0.10, 16.0),
    ("sports", 0.11, 70.0),
    ("toys", 0.08, 30.0),
]
CATEGORY_NAMES = np.array([c[0] for c in CATEGORIES])
_CATEGORY_W = np.array([c[1] for c in CATEGORIES])
_CATEGORY_PRICE = np.array([c[2] for c in CATEGORIES])

# Per segment (schema.SEGMENTS order: new, casual, loyal, lapsed): browsing visits a day,
# shopping journeys a day, chance that a journey ends in an order.
SEGMENT_NAMES = np.array(schema.SEGMENTS)
NEW, CASUAL, LOYAL, LAPSED = range(4)
BROWSE_RATE = np.array([0.25, 0.09, 0.20, 0.03])
JOURNEY_RATE = np.array([0.035, 0.022, 0.050, 0.008])
ORDER_CHANCE = np.array([0.17, 0.21, 0.36, 0.14])
_OLD_SEGMENT_W = np.array([0.0, 0.55, 0.20, 0.25])
# Segment changes of long-standing visitors during the period: from -> (to, weight).
_SEGMENT_MOVES = {
    CASUAL: ((LOYAL, 0.5), (LAPSED, 0.5)),
    LOYAL: ((LAPSED, 0.6), (CASUAL, 0.4)),
    LAPSED: ((CASUAL, 1.0),),
}
SEGMENT_CHANGE_PER_DAY = 0.005
REGION_MOVE_SHARE = 0.03
NEW_FOR_DAYS = 14
# Visits start this long before the period, so journeys under way at its start have their
# earlier visits (the events before the period are then left out).
WARM_UP_DAYS = 12
MEAN_LIFETIME_DAYS = 120

# Local hour of day (evening peak) and day of week (Monday .. Sunday) of visits.
HOUR_W = np.array(
    [0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.7, 0.8, 0.85, 0.9,
     0.95, 0.9, 0.85, 0.85, 0.9, 1.0, 1.15, 1.35, 1.5, 1.45, 1.1, 0.65]
)  # fmt: skip
WEEKDAY_W = np.array([0.92, 0.9, 0.92, 0.95, 1.0, 1.2, 1.25])
WEEKEND_ORDER = 1.15  # a journey started at the weekend ends in an order more often

PROMO_EVERY_DAYS = 20  # each region runs a promotion about this often
PROMO_DISCOUNT = 0.8
PROMO_JOURNEYS = 1.6
PROMO_ORDER = 1.35
ABANDONED_CHECKOUT = 0.25  # journeys without an order that still start a checkout
STATUS_W = np.array([0.86, 0.07, 0.07])  # paid, cancelled, payment_failed

# Calibration: page events per visitor and day alive (all segments, journeys included).
EVENTS_PER_ALIVE_DAY = 1.2


def check_sizes(days: int, events: int) -> None:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if events < 1000:
        raise ValueError(f"events must be at least 1,000, got {events}")


def _alive_days(days: int) -> float:
    """Mean days a visitor is around within the period: the long-standing ones leave after an
    exponential lifetime, the newcomers arrive evenly (some in the two weeks before)."""
    period, life = float(days), float(MEAN_LIFETIME_DAYS)
    from_start = life * (1 - np.exp(-period / life))
    from_arrival = life - life * life / period * (1 - np.exp(-period / life))
    new = (days + NEW_FOR_DAYS) / (days + NEW_FOR_DAYS + MEAN_LIFETIME_DAYS)
    early = NEW_FOR_DAYS / (days + NEW_FOR_DAYS)
    return (1 - new + new * early) * from_start + new * (1 - early) * from_arrival


def sizes(events: int, days: int) -> tuple[int, int]:
    """Visitors and products for a volume (about 20k visitors for 800k events in 60 days)."""
    visitors = max(200, round(events / EVENTS_PER_ALIVE_DAY / _alive_days(days)))
    return visitors, max(120, round(visitors / 30))


@dataclass
class Visitors:
    """The visitors and their history, as arrays indexed from 0; times in seconds from the
    period start (negative: before it)."""

    first_seen: np.ndarray
    gone: np.ndarray  # after this they never come back
    activity: np.ndarray  # how much more (or less) than the segment's rates
    device: np.ndarray  # the device of most of their visits
    favourite: np.ndarray  # (n, 2) categories
    segment_before: np.ndarray
    segment_after: np.ndarray
    segment_change: np.ndarray  # NEVER: no change
    region_before: np.ndarray
    region_after: np.ndarray
    region_change: np.ndarray

    def segment_at(self, visitor: np.ndarray, t: np.ndarray) -> np.ndarray:
        changed = t >= self.segment_change[visitor]
        return np.where(changed, self.segment_after[visitor], self.segment_before[visitor])

    def region_at(self, visitor: np.ndarray, t: np.ndarray) -> np.ndarray:
        moved = t >= self.region_change[visitor]
        return np.where(moved, self.region_after[visitor], self.region_before[visitor])

    def versions(self) -> dict[str, np.ndarray]:
        """One row per version (visitor, valid_from, valid_to; NEVER: still valid), in
        visitor then time order: a visitor's versions tile [first_seen, forever)."""
        n = len(self.first_seen)
        changes = np.sort(np.stack([self.segment_change, self.region_change], axis=1), axis=1)
        bounds = np.concatenate([self.first_seen[:, None], changes, np.full((n, 1), NEVER)], 1)
        visitor = np.repeat(np.arange(n), 3)
        start, end = bounds[:, :3].ravel(), bounds[:, 1:].ravel()
        keep = start < end  # a change that never happens, or two at the same second
        visitor, start, end = visitor[keep], start[keep], end[keep]
        return {
            "visitor": visitor,
            "valid_from": start,
            "valid_to": end,
            "segment": self.segment_at(visitor, start),
            "region": self.region_at(visitor, start),
        }


def _build_visitors(rng, n: int, days: int) -> Visitors:
    period = days * DAY
    # Arrivals over the period (and the two weeks before it, still `new` at its start) and
    # departures balance: as many long-standing visitors as a mean lifetime of arrivals.
    n_new = round(n * (days + NEW_FOR_DAYS) / (days + NEW_FOR_DAYS + MEAN_LIFETIME_DAYS))
    n_old = n - n_new
    first_seen = np.concatenate(
        [
            -rng.integers(NEW_FOR_DAYS * DAY, 1500 * DAY, size=n_old),
            rng.integers(-NEW_FOR_DAYS * DAY, period, size=n_new),
        ]
    )
    lifetime = rng.exponential(MEAN_LIFETIME_DAYS * DAY, size=n).astype(np.int64)
    gone = np.maximum(first_seen, 0) + lifetime

    segment_before = np.concatenate(
        [rng.choice(4, size=n_old, p=_OLD_SEGMENT_W), np.full(n_new, NEW)]
    )
    segment_after = segment_before.copy()
    segment_change = np.full(n, NEVER, dtype=np.int64)
    is_new = segment_before == NEW
    segment_after[is_new] = CASUAL
    segment_change[is_new] = first_seen[is_new] + NEW_FOR_DAYS * DAY
    changes = ~is_new & (rng.random(n) < 1 - np.exp(-SEGMENT_CHANGE_PER_DAY * days))
    segment_change[changes] = rng.integers(0, period, size=int(changes.sum()))
    for origin, moves in _SEGMENT_MOVES.items():
        where = np.flatnonzero(changes & (segment_before == origin))
        targets = np.array([to for to, _ in moves])
        weights = np.array([w for _, w in moves])
        segment_after[where] = targets[rng.choice(len(moves), size=len(where), p=weights)]

    region_before = rng.choice(len(REGIONS), size=n, p=_REGION_W)
    region_after = region_before.copy()
    region_change = np.full(n, NEVER, dtype=np.int64)
    moves = rng.random(n) < REGION_MOVE_SHARE
    earliest = np.clip(first_seen[moves] + 1, 0, period - 1)
    region_change[moves] = rng.integers(earliest, period)
    shift = rng.integers(1, len(REGIONS), size=int(moves.sum()))
    region_after[moves] = (region_before[moves] + shift) % len(REGIONS)

    return Visitors(
        first_seen=first_seen,
        gone=gone,
        activity=rng.gamma(1.5, 1 / 1.5, size=n),
        device=rng.choice(len(schema.DEVICES), size=n, p=[0.55, 0.38, 0.07]),
        favourite=rng.choice(len(CATEGORIES), size=(n, 2), p=_CATEGORY_W),
        segment_before=segment_before,
        segment_after=segment_after,
        segment_change=segment_change,
        region_before=region_before,
        region_after=region_after,
        region_change=region_change,
    )


def _promotions(rng, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(region, start, end) of every promotion, some starting before the period."""
    per_region = rng.poisson((days + WARM_UP_DAYS + 5) / PROMO_EVERY_DAYS, size=len(REGIONS))
    region = np.repeat(np.arange(len(REGIONS)), per_region)
    start = rng.integers(-(WARM_UP_DAYS + 5) * DAY, days * DAY, size=len(region))
    end = start + rng.integers(3, 6, size=len(region)) * DAY
    return region, start, end


def _in_promotion(promotions, region: np.ndarray, t: np.ndarray) -> np.ndarray:
    on = np.zeros(len(t), dtype=bool)
    for r, start, end in zip(*promotions):
        on |= (region == r) & (t >= start) & (t < end)
    return on


def _local_weight(t: np.ndarray, region: np.ndarray, start_weekday: int) -> np.ndarray:
    """How busy the shop is at UTC time t in the region, from 0 to 1."""
    local = t + REGION_OFFSET[region] * HOUR
    hour = (local // HOUR) % 24
    weekday = (start_weekday + local // DAY) % 7
    return HOUR_W[hour] * WEEKDAY_W[weekday] / (HOUR_W.max() * WEEKDAY_W.max())


def _mean_weight() -> float:
    return float(HOUR_W.mean() * WEEKDAY_W.mean() / (HOUR_W.max() * WEEKDAY_W.max()))


def _visits(rng, visitors: Visitors, rates: np.ndarray, days: int, start_weekday: int, boost=None):
    """Visit (or journey) start times of every visitor from the warm-up on: a Poisson
    process with the rate of their segment at the time, shaped by the local hour and
    weekday (and `boost`: the promotions' extra rate, by thinning). Returns (visitor, t)."""
    versions = visitors.versions()
    v = versions["visitor"]
    lo = np.maximum(versions["valid_from"], -WARM_UP_DAYS * DAY)
    hi = np.minimum(np.minimum(versions["valid_to"], visitors.gone[v]), days * DAY)
    live = lo < hi
    v, lo, hi, segment = v[live], lo[live], hi[live], versions["segment"][live]
    most = 1.0 if boost is None else boost[1]
    expected = rates[segment] * visitors.activity[v] * (hi - lo) / DAY * most / _mean_weight()
    count = rng.poisson(expected)
    owner = np.repeat(np.arange(len(v)), count)
    t = lo[owner] + (rng.random(len(owner)) * (hi - lo)[owner]).astype(np.int64)
    visitor = v[owner]
    region = visitors.region_at(visitor, t)
    keep = _local_weight(t, region, start_weekday)
    if boost is not None:
        keep = keep * np.where(_in_promotion(boost[0], region, t), 1.0, 1.0 / most)
    kept = rng.random(len(t)) < keep
    return visitor[kept], t[kept]


@dataclass
class Sessions:
    """Every visit (browsing, or one of a shopping journey), as arrays."""

    visitor: np.ndarray
    t: np.ndarray
    category: np.ndarray
    journey_stage: np.ndarray  # 0 .. 1 through a journey; -1: browsing
    final: np.ndarray  # the last visit of a journey
    ordered: np.ndarray  # ... that ends in an order
    buying: np.ndarray  # a visit of a journey that will end in an order
    abandoned: np.ndarray  # ... or in a checkout started and left


def _sessions(rng, visitors: Visitors, days: int, start_weekday: int, promotions) -> Sessions:
    n_categories = len(CATEGORIES)
    b_visitor, b_t = _visits(rng, visitors, BROWSE_RATE, days, start_weekday)
    b_category = np.where(
        rng.random(len(b_t)) < 0.5,
        visitors.favourite[b_visitor, rng.integers(0, 2, size=len(b_t))],
        rng.choice(n_categories, size=len(b_t), p=_CATEGORY_W),
    )

    j_visitor, j_t = _visits(
        rng, visitors, JOURNEY_RATE, days, start_weekday, boost=(promotions, PROMO_JOURNEYS)
    )
    n_j = len(j_t)
    segment = visitors.segment_at(j_visitor, j_t)
    region = visitors.region_at(j_visitor, j_t)
    local_day = (j_t + REGION_OFFSET[region] * HOUR) // DAY
    weekend = (start_weekday + local_day) % 7 >= 5
    chance = (
        ORDER_CHANCE[segment]
        * np.where(_in_promotion(promotions, region, j_t), PROMO_ORDER, 1.0)
        * np.where(weekend, WEEKEND_ORDER, 1.0)
    )
    ordered = rng.random(n_j) < np.minimum(chance, 0.95)
    abandoned = ~ordered & (rng.random(n_j) < ABANDONED_CHECKOUT)
    j_category = np.where(
        rng.random(n_j) < 0.7,
        visitors.favourite[j_visitor, rng.integers(0, 2, size=n_j)],
        rng.choice(n_categories, size=n_j, p=_CATEGORY_W),
    )
    # A journey: 2 + Poisson(2) visits over 0.5-10 days, the first at its start and the
    # last at its end.
    visits = 2 + rng.poisson(2.0, size=n_j)
    length = (np.minimum(0.5 + rng.gamma(2.0, 1.6, size=n_j), 10.0) * DAY).astype(np.int64)
    journey = np.repeat(np.arange(n_j), visits)
    first = np.repeat(np.cumsum(visits) - visits, visits)
    rank = np.arange(len(journey)) - first
    last = visits[journey] - 1
    u = rng.random(len(journey))
    u[rank == 0], u[rank == last] = 0.0, 1.0
    order = np.lexsort((u, journey))
    u = u[order]  # ascending within each journey (journey order is unchanged)
    stage = np.where(last > 0, rank / np.maximum(last, 1), 1.0)
    final = rank == last
    return Sessions(
        visitor=np.concatenate([b_visitor, j_visitor[journey]]),
        t=np.concatenate([b_t, j_t[journey] + (u * length[journey]).astype(np.int64)]),
        category=np.concatenate([b_category, j_category[journey]]),
        journey_stage=np.concatenate([np.full(len(b_t), -1.0), stage]),
        final=np.concatenate([np.zeros(len(b_t), bool), final]),
        ordered=np.concatenate([np.zeros(len(b_t), bool), final & ordered[journey]]),
        buying=np.concatenate([np.zeros(len(b_t), bool), ordered[journey]]),
        abandoned=np.concatenate([np.zeros(len(b_t), bool), final & abandoned[journey]]),
    )


def _products(rng, n: int) -> dict[str, np.ndarray]:
    category = rng.choice(len(CATEGORIES), size=n, p=_CATEGORY_W)
    category[: len(CATEGORIES)] = np.arange(len(CATEGORIES))  # every category sells something
    price = _CATEGORY_PRICE[category] * rng.lognormal(0.0, 0.5, size=n)
    return {
        "category": category,
        "list_price": np.maximum(np.round(price), 2.0) - 0.01,  # 44.99
        "popularity": rng.lognormal(0.0, 1.0, size=n),
    }


def _draw_products(rng, products: dict, category: np.ndarray) -> np.ndarray:
    out = np.empty(len(category), dtype=np.int64)
    for c in np.unique(category):
        where = np.flatnonzero(category == c)
        ids = np.flatnonzero(products["category"] == c)
        weights = products["popularity"][ids]
        out[where] = ids[rng.choice(len(ids), size=len(where), p=weights / weights.sum())]
    return out


def _session_ids(rng, n: int) -> np.ndarray:
    """'s' and 12 hex digits, distinct: x -> a * x + b (a odd) is a bijection modulo 2**48."""
    a = np.uint64(rng.integers(0, 2**47) * 2 + 1)
    b = np.uint64(rng.integers(0, 2**48))
    mixed = (np.arange(n, dtype=np.uint64) * a + b) & np.uint64(2**48 - 1)
    return np.array([f"s{v:012x}" for v in mixed.tolist()])


# Per event type (schema.EVENT_TYPES order): its place within a visit; searches and
# product views mix, carts follow them, then the checkout, then the purchase page.
_EVENT_PLACE = np.array([0, 1, 1, 2, 3, 4])
PAGE, SEARCH, VIEW, CART, CHECKOUT, PURCHASE = range(6)


def _page_events(rng, sessions: Sessions, visitors: Visitors, products: dict, promotions):
    """Every page event of every visit: (session, type, t, product, price) arrays."""
    n = len(sessions.t)
    stage = sessions.journey_stage
    browsing = stage < 0
    journey = np.maximum(stage, 0.0)
    carts = np.where(
        browsing,
        rng.random(n) < 0.06,
        rng.poisson((0.3 + 1.2 * journey) * np.where(sessions.buying, 1.8, 1.0), size=n),
    ).astype(np.int64)
    checkout_end = sessions.ordered | sessions.abandoned
    carts = np.where(checkout_end, np.maximum(carts, 1), carts)
    # A checkout started and left: now and then while browsing, more often on the way to an
    # order (the visitor comes back to finish it).
    left = np.select([browsing, sessions.buying], [0.08, 0.35], 0.08)
    checkout = checkout_end | ((carts > 0) & (rng.random(n) < left))
    counts = np.stack(
        [
            np.ones(n, dtype=np.int64),
            rng.poisson(np.where(browsing, 0.6, 1.0 - 0.6 * journey)),
            np.where(browsing, 0, 1) + rng.poisson(np.where(browsing, 2.2, 2.0 + 2.0 * journey)),
            carts,
            checkout.astype(np.int64),
            sessions.ordered.astype(np.int64),
        ],
        axis=1,
    )
    session = np.repeat(np.repeat(np.arange(n), 6), counts.ravel())
    kind = np.repeat(np.tile(np.arange(6), n), counts.ravel())
    order = np.lexsort((rng.random(len(kind)), _EVENT_PLACE[kind], session))
    session, kind = session[order], kind[order]

    per_session = counts.sum(axis=1)
    first = np.cumsum(per_session) - per_session
    gap = 5 + rng.exponential(35.0, size=len(session)).astype(np.int64)
    gap[first] = 0
    elapsed = np.cumsum(gap)
    t = sessions.t[session] + elapsed - elapsed[first][session]

    visitor = sessions.visitor[session]
    shown = (kind == VIEW) | (kind == CART)
    product = np.full(len(kind), -1, dtype=np.int64)
    product[shown] = _draw_products(rng, products, sessions.category[session[shown]])
    promo = _in_promotion(promotions, visitors.region_at(visitor, t), t)
    price = np.full(len(kind), np.nan)
    price[shown] = np.round(
        products["list_price"][product[shown]] * np.where(promo[shown], PROMO_DISCOUNT, 1.0), 2
    )
    cart = kind == CART
    total = np.bincount(session[cart], weights=price[cart], minlength=n)
    paying = (kind == CHECKOUT) | (kind == PURCHASE)
    price[paying] = np.round(total[session[paying]], 2)
    return session, kind, t, product, price


def _orders(rng, placed: np.ndarray, period: int) -> dict[str, np.ndarray]:
    """Status and times of the orders placed at `placed`, as known at the period's end:
    paid minutes later; cancelled within two days after payment; or payment failed."""
    n = len(placed)
    created = placed + rng.integers(1, 10, size=n)
    status = rng.choice(len(schema.ORDER_STATUSES), size=n, p=STATUS_W)
    paid_at = created + rng.integers(20, 600, size=n)
    settled = np.select(
        [status == 0, status == 1],
        [paid_at, paid_at + rng.integers(2 * HOUR, 2 * DAY, size=n)],
        created + rng.integers(5, 120, size=n),
    )
    late_cancel = (status == 1) & (settled >= period)  # not cancelled yet at the snapshot
    status = np.where(late_cancel, 0, status)
    settled = np.minimum(np.where(late_cancel, paid_at, settled), period - 1)
    return {"created": created, "status": status, "updated": settled}


def simulate(
    *,
    days: int = DEFAULT_DAYS,
    end_date: dt.date | str = DEFAULT_END_DATE,
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
) -> dict[str, pd.DataFrame]:
    """The shop tables as DataFrames keyed by table name (schema order), nothing written.

    Page events cover `days` whole days ending with `end_date`, about `events` rows.
    """
    check_sizes(days, events)
    start_date, _ = demo_period(days, end_date)
    start = np.datetime64(start_date, "s")
    period = days * DAY
    rng = np.random.default_rng(seed)

    n_visitors, n_products = sizes(events, days)
    visitors = _build_visitors(rng, n_visitors, days)
    # Changes after the snapshot are not in the database (nor in any visit of the period).
    visitors.segment_change[visitors.segment_change >= period] = NEVER
    products = _products(rng, n_products)
    promotions = _promotions(rng, days)
    sessions = _sessions(rng, visitors, days, start_date.weekday(), promotions)
    session, kind, t, product, price = _page_events(rng, sessions, visitors, products, promotions)

    keep = (t >= 0) & (t < period)
    session, kind, t, product, price = (a[keep] for a in (session, kind, t, product, price))
    visitor = sessions.visitor[session]
    order = np.lexsort((kind, session, t))  # time, then visit, then place in it
    session, kind, t, product, price, visitor = (
        a[order] for a in (session, kind, t, product, price, visitor)
    )
    session_ids = _session_ids(rng, len(sessions.t))
    travelling = rng.random(len(sessions.t)) < 0.02
    session_country = np.where(
        travelling,
        TRAVEL_COUNTRIES[rng.integers(0, len(TRAVEL_COUNTRIES), size=len(sessions.t))],
        REGION_COUNTRY[visitors.region_at(sessions.visitor, sessions.t)],
    )
    session_device = np.where(
        rng.random(len(sessions.t)) < 0.8,
        visitors.device[sessions.visitor],
        rng.integers(0, len(schema.DEVICES), size=len(sessions.t)),
    )
    page_events = pd.DataFrame(
        {
            "event_id": np.arange(1, len(t) + 1),
            "visitor_id": visitor + 1,
            "session_id": session_ids[session],
            "event_type": np.array(schema.EVENT_TYPES)[kind],
            "product_id": pd.array(np.where(product >= 0, product + 1, 0), dtype="Int64"),
            "price": price,
            "device": np.array(schema.DEVICES)[session_device[session]],
            "country": session_country[session],
            "occurred_at": start + t,
        }
    )
    page_events.loc[product < 0, "product_id"] = pd.NA

    purchase = np.flatnonzero(kind == PURCHASE)
    placed = _orders(rng, t[purchase], period)
    in_period = placed["created"] < period
    purchase = purchase[in_period]
    orders = pd.DataFrame(
        {
            "visitor_id": visitor[purchase] + 1,
            "session_id": session_ids[session[purchase]],
            "total": price[purchase],
            "status": np.array(schema.ORDER_STATUSES)[placed["status"][in_period]],
            "created_at": start + placed["created"][in_period],
            "updated_at": start + placed["updated"][in_period],
        }
    )
    orders = orders.sort_values(["created_at", "visitor_id"], kind="stable").reset_index(drop=True)
    orders.insert(0, "order_id", np.arange(1, len(orders) + 1))

    versions = visitors.versions()
    open_ended = versions["valid_to"] == NEVER
    visitors_df = pd.DataFrame(
        {
            "version_id": np.arange(1, len(versions["visitor"]) + 1),
            "visitor_id": versions["visitor"] + 1,
            "segment": SEGMENT_NAMES[versions["segment"]],
            "region": REGION_NAMES[versions["region"]],
            "valid_from": start + versions["valid_from"],
            "valid_to": start + np.where(open_ended, 0, versions["valid_to"]),
        }
    )
    visitors_df.loc[open_ended, "valid_to"] = pd.NaT
    products_df = pd.DataFrame(
        {
            "product_id": np.arange(1, n_products + 1),
            "category": CATEGORY_NAMES[products["category"]],
            "list_price": products["list_price"],
        }
    )
    return {
        "products": products_df,
        "visitors": visitors_df,
        "page_events": page_events,
        "orders": orders,
    }
