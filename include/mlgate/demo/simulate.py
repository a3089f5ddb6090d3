"""Demo source data: a card issuer's customers, cards, merchants, transactions and chargebacks.

`simulate()` makes `days` whole days of card transactions ending with `end_date`, as the
frames of the tables of `mlgate.demo.schema`; `mlgate.demo.generate` writes them to a
database. The simulation is vectorised with numpy and seeded: the same arguments always
give the same rows, whatever the wall-clock time.

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

import datetime as dt

import numpy as np
import pandas as pd

from mlgate.demo import schema
from mlgate.demo.common import as_date
from mlgate.demo.world import (
    ATM,
    CARD_TESTING_CATEGORIES,
    CASH_OUT_CATEGORIES,
    CATEGORY_AMOUNT,
    CATEGORY_NAMES,
    CHANNELS,
    COUNTRIES,
    COUNTRY_CODES,
    CURRENCY,
    DAY,
    DAY_HOURS,
    ECOM,
    EPISODES,
    FRAUDSTER_W,
    HOUR,
    NIGHT_HOURS,
    OFFSET,
    POS,
    REGULAR_SLOTS,
    REGULAR_W,
    RISKY_IDX,
    RISKY_STORE_CATEGORIES,
    TRAVEL_W,
    WEEKDAY_W,
    Pool,
    World,
    build_world,
    sizes,
)

DEFAULT_END_DATE = dt.date(2026, 10, 31)
DEFAULT_DAYS = 60
DEFAULT_TRANSACTIONS = 1_000_000
DEFAULT_SEED = 7

# Share of transactions that are fraud the simulation aims at.
_FRAUD_RATE_TARGET = 0.0035
_CHARGEBACK_SHARE = 0.9
_FRIENDLY_FRAUD_RATE = {"pos": 0.0001, "ecom": 0.0005, "atm": 0.0}


def _local_to_period(seconds_local: np.ndarray, offset_hours: np.ndarray, period: int):
    """Local wall-clock seconds since the period start -> UTC seconds since the period start.

    A time the offset pushes out of the period wraps around to its other end (at the same
    time of day), which keeps the density of every UTC hour even across the period."""
    t = seconds_local - offset_hours * HOUR
    t = np.where(t < 0, t + period, t)
    return np.where(t >= period, t - period, t)


def _draw_by_group(rng, groups: np.ndarray, pools: dict[int, Pool]) -> np.ndarray:
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


def _legit(rng, world: World, n: int, days: int, start_weekday: int) -> dict[str, np.ndarray]:
    period = days * DAY
    n_cards = len(world.card_customer)
    n_countries = len(COUNTRIES)
    expected = world.card_activity / world.card_activity.sum() * n
    card = np.repeat(np.arange(n_cards), rng.poisson(expected))
    size = len(card)
    home = world.card_country[card]

    weekday_w = WEEKDAY_W[(start_weekday + np.arange(days)) % 7]
    day = rng.choice(days, size=size, p=weekday_w / weekday_w.sum())
    hour = rng.choice(24, size=size, p=DAY_HOURS)
    local = day * DAY + hour * HOUR + rng.integers(0, HOUR, size=size)
    t = _local_to_period(local, OFFSET[home], period)

    # Some cards travel abroad for a few days and shop there.
    has_trip = rng.random(n_cards) < min(0.5, 0.003 * days)
    trip_start = rng.integers(0, period, size=n_cards)
    trip_end = trip_start + rng.integers(2, 12, size=n_cards) * DAY
    trip_country = _other_country(rng, world.card_country, TRAVEL_W)
    traveling = has_trip[card] & (t >= trip_start[card]) & (t < trip_end[card])
    where = np.where(traveling, trip_country[card], home)

    u = rng.random(size)
    regular = np.where(traveling, u >= 0.85, u < 0.70)
    local_shop = ~traveling & (u >= 0.70) & (u < 0.975)
    cross_border = ~traveling & (u >= 0.975)
    abroad = traveling & (u < 0.85)
    merchant = np.empty(size, dtype=np.int64)
    slot = rng.choice(REGULAR_SLOTS, size=int(regular.sum()), p=REGULAR_W)
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
        + np.log(CATEGORY_AMOUNT[category])
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
    rng, world: World, n_episodes: int, days: int, legit_cards: np.ndarray
) -> dict[str, np.ndarray]:
    """Fraud episodes on compromised cards, one episode per card."""
    period = days * DAY
    n_countries = len(COUNTRIES)
    mc, mch, mcat = world.merchant_country, world.merchant_channel, world.merchant_category
    ecom = mch == ECOM
    testing_pool = world.pool(ecom & np.isin(mcat, CARD_TESTING_CATEGORIES))
    cash_out_pool = world.pool(ecom & np.isin(mcat, CASH_OUT_CATEGORIES))
    risky_ecom_pool = world.pool(ecom & np.isin(mcat, RISKY_IDX))
    any_ecom_pool = world.pool(ecom)
    store = ~ecom
    store_pools = [world.pool(store & (mc == c)) for c in range(n_countries)]
    risky_store_pools = [
        world.pool((mch == POS) & (mc == c) & np.isin(mcat, RISKY_STORE_CATEGORIES))
        for c in range(n_countries)
    ]
    atm_pools = [world.pool((mch == ATM) & (mc == c)) for c in range(n_countries)]
    home_pools = [world.pool(mc == c) for c in range(n_countries)]

    # Prepaid cards are compromised twice as often.
    candidates = np.unique(legit_cards)
    weights = np.where(world.card_type[candidates] == 2, 2.0, 1.0)
    n_episodes = min(n_episodes, len(candidates))
    victims = rng.choice(candidates, size=n_episodes, replace=False, p=weights / weights.sum())
    kinds = list(EPISODES)
    kind_p = np.array([v[0] for v in EPISODES.values()])
    fraud_devices = rng.integers(1, 2**62, size=max(20, n_episodes // 4))
    fraudster_p = FRAUDSTER_W / FRAUDSTER_W.sum()

    rows: dict[str, list] = {k: [] for k in ("card", "merchant", "amount", "country", "device")}
    rows.update(t=[], episode=[])
    for episode, card in enumerate(victims):
        kind = kinds[rng.choice(len(kinds), p=kind_p)]
        home = int(world.card_country[card])
        customer = world.card_customer[card]
        typical = float(np.exp(world.card_mu[card]))
        hours = NIGHT_HOURS if rng.random() < EPISODES[kind][2] else DAY_HOURS
        local0 = rng.integers(0, days) * DAY + rng.choice(24, p=hours) * HOUR
        t0 = int(_local_to_period(local0 + rng.integers(0, HOUR), OFFSET[home], period))
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
            slots = rng.choice(REGULAR_SLOTS, size=k, p=REGULAR_W)
            merchants = np.where(
                rng.random(k) < 0.5, world.card_regulars[card, slots], home_pools[home].draw(rng, k)
            )
            amounts = np.exp(
                world.card_mu[card]
                + np.log(CATEGORY_AMOUNT[mcat[merchants]])
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
    return sum(p * size for p, size, _ in EPISODES.values())


def check_sizes(days: int, transactions: int) -> None:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if transactions < 100:
        raise ValueError(f"transactions must be at least 100, got {transactions}")


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
    check_sizes(days, transactions)
    end_date = as_date(end_date)
    start_date = end_date - dt.timedelta(days=days - 1)
    start = np.datetime64(start_date, "s")
    period = days * DAY
    rng = np.random.default_rng(seed)

    n_cards, n_merchants = sizes(transactions, days)
    world = build_world(rng, n_cards, n_merchants)
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
            "currency": CURRENCY[world.merchant_country[merchant]],
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
