"""The demo's world: countries, merchant categories, customers, cards and merchants.

The fixed tables (countries with their UTC offsets and currencies, merchant categories with
their typical amounts, hours of day, fraud episode mix) and `build_world`, which draws the
customers, cards, devices and merchants the transactions of `mlgate.demo.simulate` use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlgate.demo import schema

DAY = 86_400
HOUR = 3_600


# code, UTC offset (hours, no DST), currency, share of customers, share of merchants,
# weight as a travel destination, weight as a fraudster's country.
COUNTRIES: list[tuple[str, int, str, float, float, float, float]] = [
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
COUNTRY_CODES = np.array([c[0] for c in COUNTRIES])
OFFSET = np.array([c[1] for c in COUNTRIES])
CURRENCY = np.array([c[2] for c in COUNTRIES])
_CUSTOMER_W = np.array([c[3] for c in COUNTRIES])
_MERCHANT_W = np.array([c[4] for c in COUNTRIES])
TRAVEL_W = np.array([c[5] for c in COUNTRIES])
FRAUDSTER_W = np.array([c[6] for c in COUNTRIES])

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
CATEGORY_AMOUNT = np.array([c[3] for c in _CATEGORIES])
RISKY_CATEGORIES = ("electronics", "jewelry", "gift_cards", "crypto", "digital_goods")
_CAT = {name: i for i, name in enumerate(CATEGORY_NAMES)}
CARD_TESTING_CATEGORIES = [_CAT["digital_goods"], _CAT["gift_cards"]]
CASH_OUT_CATEGORIES = [_CAT["electronics"], _CAT["jewelry"], _CAT["gift_cards"], _CAT["crypto"]]
RISKY_IDX = [_CAT[name] for name in RISKY_CATEGORIES]
RISKY_STORE_CATEGORIES = [_CAT["electronics"], _CAT["jewelry"], _CAT["gift_cards"]]

CHANNELS = np.array(schema.CHANNELS)  # pos, ecom, atm
POS, ECOM, ATM = 0, 1, 2

# Local hour of day: legit spending (daytime) and fraud that prefers the night.
DAY_HOURS = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 3.0, 4.5, 5.5, 6.0, 6.5,
     7.0, 6.5, 6.0, 6.0, 6.5, 7.0, 7.0, 6.5, 5.5, 4.0, 2.8, 1.8]
)  # fmt: skip
NIGHT_HOURS = np.array(
    [6.0, 7.0, 7.0, 6.0, 5.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0,
     1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 5.0]
)  # fmt: skip
DAY_HOURS = DAY_HOURS / DAY_HOURS.sum()
NIGHT_HOURS = NIGHT_HOURS / NIGHT_HOURS.sum()
WEEKDAY_W = np.array([1.0, 1.0, 1.0, 1.02, 1.12, 1.15, 0.95])  # Monday .. Sunday

# Fraud episode kinds: probability, mean number of transactions, chance of a night start.
EPISODES = {
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
class Pool:
    """Merchants to draw from, with their popularity as drawing weights."""

    ids: np.ndarray
    p: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, popularity: np.ndarray) -> Pool | None:
        ids = np.flatnonzero(mask)
        if len(ids) == 0:
            return None
        weights = popularity[ids]
        return cls(ids, weights / weights.sum())

    def draw(self, rng: np.random.Generator, size: int | None = None):
        return self.ids[rng.choice(len(self.ids), size=size, p=self.p)]


@dataclass
class World:
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

    def pool(self, mask: np.ndarray) -> Pool | None:
        return Pool.of(mask, self.merchant_popularity)


REGULAR_SLOTS = 10
REGULAR_W = 0.75 ** np.arange(REGULAR_SLOTS)
REGULAR_W = REGULAR_W / REGULAR_W.sum()


def sizes(transactions: int, days: int) -> tuple[int, int]:
    """Cards and merchants for a volume: about 0.83 transactions per card and day
    (20k cards and 2k merchants for the default 1M transactions over 60 days)."""
    per_day = transactions / days
    cards = max(300, round(per_day * 1.2))
    merchants = max(200, round(cards / 10))
    return cards, merchants


def build_world(rng: np.random.Generator, n_cards: int, n_merchants: int) -> World:
    n_countries = len(COUNTRIES)

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

    world = World(
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
        card_regulars=np.zeros((n_c, REGULAR_SLOTS), dtype=np.int64),
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
            world.card_regulars[cards_here] = pool.draw(rng, (len(cards_here), REGULAR_SLOTS))
    return world
