"""Static side of the synthetic retailer: product catalogue, stores, customers and their latent
traits, and the calendar (seasonality, weekday cycle, promotions) the daily dynamics read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

CATEGORIES = ("grocery", "apparel", "home", "beauty", "electronics", "toys", "sports", "garden", "books", "pets")
CATEGORY_WEIGHT = np.array([0.22, 0.14, 0.10, 0.10, 0.06, 0.07, 0.07, 0.05, 0.08, 0.11])
CATEGORY_MEDIAN_PRICE = np.array([4.5, 32.0, 24.0, 14.0, 110.0, 21.0, 38.0, 24.0, 11.0, 15.0])
CATEGORY_RETURN_FACTOR = np.array([0.15, 2.4, 1.0, 0.6, 1.5, 0.8, 1.2, 0.7, 0.5, 0.4])
CATEGORY_NOUNS = (
    ("Coffee", "Tea", "Pasta", "Olive Oil", "Granola", "Rice", "Chocolate", "Biscuits"),
    ("T-Shirt", "Jeans", "Jacket", "Dress", "Sweater", "Scarf", "Sneakers", "Shirt"),
    ("Mug", "Lamp", "Cushion", "Towel Set", "Vase", "Frying Pan", "Duvet", "Candle"),
    ("Shampoo", "Face Cream", "Lipstick", "Perfume", "Body Lotion", "Serum", "Soap", "Mascara"),
    ("Headphones", "Speaker", "Charger", "Tablet", "Smartwatch", "Keyboard", "Camera", "Router"),
    ("Puzzle", "Building Set", "Plush Bear", "Board Game", "Doll", "Toy Car", "Kite", "Robot Kit"),
    ("Yoga Mat", "Football", "Dumbbells", "Water Bottle", "Running Shorts", "Tennis Racket", "Bike Light", "Backpack"),
    ("Hose", "Planter", "Seeds", "Trowel", "Garden Chair", "Lantern", "Compost", "Bird Feeder"),
    ("Novel", "Cookbook", "Atlas", "Biography", "Notebook", "Comic", "Guidebook", "Poetry"),
    ("Dog Food", "Cat Litter", "Chew Toy", "Leash", "Pet Bed", "Bird Seed", "Fish Food", "Scratching Post"),
)
ADJECTIVES = ("Classic", "Premium", "Everyday", "Organic", "Deluxe", "Compact", "Essential", "Signature", "Eco", "Pro")
BRAND_SYLLABLES = ("Nor", "Vel", "Kai", "Bri", "Lum", "Tor", "Sol", "Mar", "Ost", "Fen", "Ari", "Dun", "Eli", "Qua")
BRAND_ENDINGS = ("ra", "vo", "lix", "ton", "ia", "ex", "en", "ly")
REGIONS = ("north", "south", "east", "west", "central")
STORE_FORMATS = ("mall", "high_street", "retail_park")
FORMAT_LABEL = {"mall": "Mall", "high_street": "High Street", "retail_park": "Retail Park"}
TOWNS = (
    "Ashford", "Brampton", "Carlow", "Dunmore", "Eastleigh", "Fairview", "Glenrock", "Hartwell", "Ivybridge",
    "Jarrow", "Kingsley", "Larkhill", "Milford", "Northgate", "Oakham", "Pembrook", "Queensbury", "Redcliff",
    "Stanmore", "Thornbury", "Upton", "Valemont", "Westbrook", "Yarrow", "Ambleside", "Bexley", "Colwick",
    "Dalston", "Elmstead", "Fernhill", "Greyfield", "Holloway", "Ingleby", "Kelso", "Lydford", "Moreton",
    "Newbury", "Otterburn", "Pinehurst", "Rowan",
)
TIERS = ("bronze", "silver", "gold")
DISCOUNT_LEVELS = np.array([10, 15, 20, 25, 30, 35, 40])
RETURN_REASONS = ("wrong size", "changed mind", "damaged", "defective", "not as described", "arrived late")
REASON_BY_CATEGORY = np.array([
    [0.00, 0.30, 0.45, 0.05, 0.20, 0.00],  # grocery
    [0.50, 0.25, 0.05, 0.02, 0.15, 0.03],  # apparel
    [0.02, 0.35, 0.30, 0.10, 0.20, 0.03],  # home
    [0.00, 0.45, 0.15, 0.10, 0.30, 0.00],  # beauty
    [0.00, 0.20, 0.15, 0.45, 0.17, 0.03],  # electronics
    [0.00, 0.35, 0.25, 0.20, 0.17, 0.03],  # toys
    [0.20, 0.30, 0.15, 0.15, 0.17, 0.03],  # sports
    [0.00, 0.35, 0.30, 0.15, 0.17, 0.03],  # garden
    [0.00, 0.50, 0.30, 0.00, 0.17, 0.03],  # books
    [0.00, 0.40, 0.30, 0.10, 0.17, 0.03],  # pets
])
PRE_EXISTING_SHARE = 0.35
PRE_EXISTING_SPAN_DAYS = 1095


@dataclass(frozen=True)
class Catalogue:
    """Products sorted by id; category index, popularity and prices (in cents)."""

    category: np.ndarray  # int8 category index per product
    popularity: np.ndarray  # Zipf-like weight per product
    list_cents: np.ndarray
    cost_cents: np.ndarray
    names: list[str]
    brands: list[str]


@dataclass(frozen=True)
class StoreNetwork:
    """Physical stores first (index 0..n-1), then the online store (index n)."""

    n_physical: int
    size: np.ndarray  # share of customers living near each physical store
    quality: np.ndarray  # service quality per store, online included (higher is better)
    region: list[str]
    fmt: list[str]
    name: list[str]
    opened_day: np.ndarray  # day index relative to the history start (negative)


@dataclass(frozen=True)
class Calendar:
    """Day-level drivers for days 0 .. history_days + window - 1 (the oracle looks past the end)."""

    dates: np.ndarray  # datetime64[D]
    season: np.ndarray
    week_store: np.ndarray
    week_online: np.ndarray
    promo_intensity: np.ndarray  # 0 normal day, >0 sale event day
    period: np.ndarray  # promotion period of each day (weekly period or a sale event)
    period_code: list[str]
    period_on_promo: np.ndarray  # bool [period, product]
    period_discount: np.ndarray  # discount level index [period, product]


@dataclass(frozen=True)
class ProductSampler:
    """Products by category, cumulative popularity within category spanning (c, c + 1]."""

    product: np.ndarray
    cum: np.ndarray
    has_category: np.ndarray
    cum_any: np.ndarray  # cumulative popularity over all its products, ignoring category

    @classmethod
    def build(cls, category: np.ndarray, weight: np.ndarray, index: np.ndarray) -> ProductSampler:
        order = index[np.argsort(category[index], kind="stable")]
        cats = category[order].astype(np.int64)
        cats_range = np.arange(len(CATEGORIES))
        starts, ends = np.searchsorted(cats, cats_range), np.searchsorted(cats, cats_range, side="right")
        csum = np.concatenate([[0.0], np.cumsum(weight[order])])
        before, total = csum[starts], csum[ends] - csum[starts]
        cum = cats + (csum[1:] - before[cats]) / np.where(total > 0, total, 1.0)[cats]
        has = ends > starts
        cum[ends[has] - 1] = cats_range[has] + 1.0
        return cls(order, cum, has, csum[1:] / max(csum[-1], 1e-300))

    def draw(self, cat: np.ndarray, u: np.ndarray) -> np.ndarray:
        if len(self.product) == 0:
            return np.zeros(len(cat), dtype=np.int64)
        pos = np.searchsorted(self.cum, cat + u, side="right")
        return self.product[np.minimum(pos, len(self.product) - 1)]

    def draw_any(self, u: np.ndarray) -> np.ndarray:
        if len(self.product) == 0:
            return np.zeros(len(u), dtype=np.int64)
        return self.product[np.minimum(np.searchsorted(self.cum_any, u, side="right"), len(self.product) - 1)]


def build_catalogue(rng: np.random.Generator, n_products: int) -> Catalogue:
    n_cat = len(CATEGORIES)
    cats = rng.choice(n_cat, size=n_products, p=CATEGORY_WEIGHT / CATEGORY_WEIGHT.sum())
    cats[: min(n_cat, n_products)] = np.arange(min(n_cat, n_products))  # every category has a product
    cats = rng.permutation(cats).astype(np.int8)
    rank = rng.permutation(n_products) + 1
    popularity = 1.0 / rank**0.9
    price = CATEGORY_MEDIAN_PRICE[cats] * rng.lognormal(0.0, 0.55, n_products)
    list_cents = (np.maximum(np.floor(price), 0) * 100 + 99).astype(np.int64)
    cost_cents = np.round(list_cents * rng.uniform(0.35, 0.7, n_products)).astype(np.int64)
    brand_pool = [s + e for s in BRAND_SYLLABLES for e in BRAND_ENDINGS]
    brand_idx = rng.integers(0, 6, n_products) + 6 * cats.astype(np.int64)
    brand_pick = rng.permutation(len(brand_pool))
    brands = [brand_pool[brand_pick[b % len(brand_pool)]] for b in brand_idx]
    adjective = rng.integers(0, len(ADJECTIVES), n_products)
    noun = rng.integers(0, 8, n_products)
    names = [f"{brands[j]} {ADJECTIVES[adjective[j]]} {CATEGORY_NOUNS[cats[j]][noun[j]]}" for j in range(n_products)]
    return Catalogue(cats, popularity, list_cents, cost_cents, names, brands)


def build_stores(rng: np.random.Generator, n_stores: int) -> StoreNetwork:
    n_stores = max(int(n_stores), 1)
    region = rng.choice(len(REGIONS), size=n_stores, p=[0.22, 0.24, 0.18, 0.16, 0.20])
    fmt = rng.choice(len(STORE_FORMATS), size=n_stores, p=[0.3, 0.45, 0.25])
    size = rng.lognormal(0.0, 0.5, n_stores)
    quality = np.append(rng.normal(0.0, 1.0, n_stores), rng.normal(0.3, 0.3))
    opened = -rng.integers(60, 20 * 365, n_stores + 1)
    names = []
    for k in range(n_stores):
        town = TOWNS[k % len(TOWNS)] + ("" if k < len(TOWNS) else f" {k // len(TOWNS) + 1}")
        names.append(f"{town} {FORMAT_LABEL[STORE_FORMATS[fmt[k]]]}")
    return StoreNetwork(
        n_physical=n_stores,
        size=size / size.sum(),
        quality=quality,
        region=[REGIONS[r] for r in region] + ["national"],
        fmt=[STORE_FORMATS[f] for f in fmt] + ["online"],
        name=names + ["Online Store"],
        opened_day=opened,
    )


def acquisition_days(rng: np.random.Generator, n_customers: int, history_days: int) -> np.ndarray:
    """Signup day per customer (sorted): 35% before the start, the rest over the history with mild growth."""
    n_pre = int(round(PRE_EXISTING_SHARE * n_customers)) if history_days > 1 else n_customers
    pre = -rng.integers(1, PRE_EXISTING_SPAN_DAYS + 1, n_pre)
    growth = 0.5
    u = rng.random(n_customers - n_pre)
    new = 1 + np.floor((history_days - 1) * np.log1p(u * np.expm1(growth)) / growth).astype(np.int64)
    return np.sort(np.concatenate([pre, np.minimum(new, history_days - 1)]), kind="stable")


def _bump(doy: np.ndarray, centre: float, width: float) -> np.ndarray:
    dist = np.abs(doy - centre)
    dist = np.minimum(dist, 365.25 - dist)
    return np.exp(-0.5 * (dist / width) ** 2)


def _black_friday(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    first_thursday = 1 + (3 - nov1.weekday()) % 7
    return dt.date(year, 11, first_thursday + 22)


STORE_WEEK_CYCLE = np.array([0.82, 0.84, 0.88, 0.95, 1.1, 1.55, 1.1])  # Monday .. Sunday
ONLINE_WEEK_CYCLE = np.array([1.06, 1.01, 0.99, 0.98, 0.94, 0.95, 1.07])


def season_curve(dates: np.ndarray) -> np.ndarray:
    """Yearly purchase seasonality of each date (1 on an ordinary day)."""
    years = dates.astype("datetime64[Y]")
    doy = (dates - years.astype("datetime64[D]")).astype(np.float64)
    return (
        1.0
        + 0.55 * _bump(doy, 345.0, 16.0)  # December peak
        + 0.25 * _bump(doy, 330.0, 9.0)  # late November
        + 0.22 * _bump(doy, 200.0, 28.0)  # summer bump
        - 0.30 * _bump(doy, 20.0, 13.0)  # January dip
    )


def weekday_index(dates: np.ndarray) -> np.ndarray:
    return (dates.astype(np.int64) + 3) % 7  # Monday = 0


def build_calendar(rng: np.random.Generator, start: np.datetime64, n_days: int, n_products: int) -> Calendar:
    dates = start + np.arange(n_days).astype("timedelta64[D]")
    season = season_curve(dates)
    weekday = weekday_index(dates)
    week_store = (STORE_WEEK_CYCLE / STORE_WEEK_CYCLE.mean())[weekday]
    week_online = (ONLINE_WEEK_CYCLE / ONLINE_WEEK_CYCLE.mean())[weekday]

    # Weekly promotion periods (Monday-aligned), overridden by sale events.
    first_monday = start - np.timedelta64(int(weekday[0]), "D")
    week_of_day = (dates - first_monday).astype(np.int64) // 7
    n_weeks = int(week_of_day[-1]) + 1
    codes = []
    for w in range(n_weeks):
        iso = (first_monday + np.timedelta64(7 * w, "D")).astype(dt.date).isocalendar()
        codes.append(f"WK{iso[0] % 100:02d}{iso[1]:02d}")
    period = week_of_day.copy()
    intensity = np.zeros(n_days)
    event_kind = []  # 1 sale week, 2 black friday
    first_day, last_day = dates[0].astype(dt.date), dates[-1].astype(dt.date)
    for year in range(first_day.year, last_day.year + 1):
        mondays = [dt.date(year, 2, 1) + dt.timedelta(days=k) for k in range(0, 260)]
        mondays = [m for m in mondays if m.weekday() == 0 and 2 <= m.month <= 10]
        sale_weeks = sorted(rng.choice(len(mondays), size=4, replace=False))
        events = [(mondays[k], 7, 0.5, f"SALE{year % 100:02d}{mondays[k].month:02d}{mondays[k].day:02d}", 1) for k in sale_weeks]
        events.append((_black_friday(year), 4, 1.5, f"BLACKFRIDAY{year % 100:02d}", 2))
        for begin, length, strength, code, kind in events:
            offset = (np.datetime64(begin) - start).astype(np.int64)
            lo, hi = max(offset, 0), min(offset + length, n_days)
            if lo < hi:
                period[lo:hi] = len(codes)
                intensity[lo:hi] = strength
                codes.append(code)
                event_kind.append(kind)
    kind = np.array([0] * n_weeks + event_kind)
    promo_share = np.choose(kind, [0.06, 0.3, 0.5])[:, None]
    on_promo = rng.random((len(codes), n_products)) < promo_share
    weekly_levels = rng.choice(4, size=(len(codes), n_products), p=[0.35, 0.3, 0.2, 0.15])
    event_levels = rng.choice(np.arange(2, 7), size=(len(codes), n_products))
    levels = np.where(kind[:, None] > 0, event_levels, weekly_levels).astype(np.int8)
    return Calendar(dates, season, week_store, week_online, intensity, period, codes, on_promo, levels)


@dataclass(frozen=True)
class Population:
    """Customers sorted by signup day (customer index = id order). Rates are relative (mean 1)."""

    signup_day: np.ndarray  # negative: signed up before the history start
    base_rate: np.ndarray
    online_pref: np.ndarray
    reliance: np.ndarray  # discount reliance delta
    return_propensity: np.ndarray  # rho
    local_store: np.ndarray  # physical store the customer lives near
    home_store: np.ndarray  # local store, or the online store for online-first customers
    tier: np.ndarray  # 0 bronze, 1 silver, 2 gold
    category_cum: np.ndarray  # float32 [customer, category] cumulative category preference
    return_per_line: np.ndarray  # expected returned lines per bought line


def build_population(
    rng: np.random.Generator, n_customers: int, history_days: int, online_share: float, stores: StoreNetwork
) -> Population:
    n = int(n_customers)
    signup = acquisition_days(rng, n, history_days)
    base_rate = rng.gamma(2.0, 0.5, n)  # mean 1 (scaled later); NBD-style heterogeneity, 90th/10th pct ~7x
    share = float(np.clip(online_share, 0.0, 1.0))
    if 0.0 < share < 1.0:
        online_pref = rng.beta(1.2 * share, 1.2 * (1.0 - share), n)
    else:
        online_pref = np.full(n, share)
    reliance = rng.beta(1.3, 3.5, n)
    heavy = rng.random(n) < 0.1
    rho = np.where(heavy, rng.uniform(0.12, 0.4, n), np.clip(rng.lognormal(np.log(0.05), 0.35, n), 0.01, 0.12))
    local = rng.choice(stores.n_physical, size=n, p=stores.size)
    home = np.where(online_pref > 0.5, stores.n_physical, local)
    log_rate = np.log(base_rate)
    score = 0.8 * (log_rate - log_rate.mean()) / max(float(log_rate.std()), 1e-9) + rng.normal(0, 1, n)
    tier = np.searchsorted(np.quantile(score, [0.6, 0.88]), score).astype(np.int8)
    weights = np.broadcast_to(CATEGORY_WEIGHT, (n, len(CATEGORIES))).copy()
    favourites = rng.choice(len(CATEGORIES), size=(n, 2), p=CATEGORY_WEIGHT / CATEGORY_WEIGHT.sum())
    rows = np.arange(n)
    weights[rows, favourites[:, 0]] *= 4.0
    weights[rows, favourites[:, 1]] *= 3.0
    weights /= weights.sum(axis=1, keepdims=True)
    return_per_line = rho * (weights @ CATEGORY_RETURN_FACTOR)
    category_cum = np.cumsum(weights, axis=1).astype(np.float32)
    category_cum[:, -1] = 1.0
    return Population(signup, base_rate, online_pref, reliance, rho, local, home, tier, category_cum, return_per_line)
