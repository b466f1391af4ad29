"""Shared hypothesis strategies for the resq test suite."""

from __future__ import annotations

from hypothesis import strategies as st

# --- simulation ----------------------------------------------------------------------

HOSTILE_NAMES = (
    "x'); DROP TABLE inventory_master;--",
    "Robert'); DROP TABLE organizations;--",
    '" OR 1=1 --',
    "\x00",
    "",
    "   ",
    "\n\t",
    "Bangalore\u200b",
    "ＢＡＮＧＡＬＯＲＥ",
    "İstanbul",
    "straße",
    "😀🔥",
    "%s %d {0} ${x}",
)

#: Names a user or an attacker might pass as a city or vendor: any unicode text (no lone
#: surrogates, which Arrow cannot hold), known names in odd case and padding, and hostile
#: strings (SQL injection, control characters, look-alikes).
names = st.one_of(
    st.text(max_size=40),
    st.sampled_from(HOSTILE_NAMES),
    st.sampled_from(["Bangalore", "Delhi", "Blinkit", "Dunzo", "Zepto", "Mumbai"]).flatmap(
        lambda n: st.tuples(
            st.sampled_from([n, n.lower(), n.upper(), n.swapcase()]),
            st.sampled_from(["", " ", "\t", "\n  "]),
            st.sampled_from(["", " ", "  \n"]),
        ).map(lambda t: t[1] + t[0] + t[2])
    ),
)

#: Columns of names with some nulls, as a UDF receives them.
name_columns = st.lists(st.one_of(names, st.none()), max_size=30)

#: Seeds of any sign and size (they are reduced modulo 2**64).
seeds = st.integers(min_value=-(2**70), max_value=2**70)

#: Finite floats that chaos must reject as a stock level (negative).
negative_stock = st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False)

#: Values chaos must reject as a demand factor (<= 0 or not finite).
bad_factors = st.one_of(
    st.floats(max_value=0.0, allow_nan=False),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)

# --- core: candidate rows and vendor options for plan_orders --------------------------

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from resq.core import DEFAULT_SECTOR_CONFIG, analyse  # noqa: E402

#: Items each sector stocks: (sku, item_name, category, unit, pack_size).
CORE_ITEMS = {
    "HOSPITAL": (
        ("OXY-CYL", "Medical oxygen cylinder", "OXYGEN", "cylinder", 1.0),
        ("MED-PARA", "Paracetamol 500 mg", "MEDICINE", "strip", 10.0),
    ),
    "PDS": (("RICE-KG", "Rice (NFSA)", "RICE", "kg", 50.0),),
    "NGO": (("KIT-EMG", "Emergency kit", "KIT", "kit", 1.0),),
}
CORE_CITIES = ("Bangalore", "Delhi", "Mumbai", "Chennai")
CORE_WEATHER = ("Clear", "Cloudy", "Haze", "Rain", "Storm", "Flood")
CORE_VENDORS = ("Blinkit", "Dunzo", "Zepto", "LocalMart")

#: The columns of sql/candidates.sql, in order, with their Arrow types.
CANDIDATE_SCHEMA = pa.schema(
    [
        ("org_id", pa.string()),
        ("org_name", pa.string()),
        ("sector", pa.string()),
        ("city", pa.string()),
        ("sku", pa.string()),
        ("item_name", pa.string()),
        ("category", pa.string()),
        ("unit", pa.string()),
        ("pack_size", pa.float64()),
        ("lead_time_days", pa.float64()),
        ("preferred_vendor", pa.string()),
        ("current_stock", pa.float64()),
        ("daily_consumption", pa.float64()),
        ("effective_consumption", pa.float64()),
        ("days_remaining", pa.float64()),
        ("critical_days", pa.float64()),
        ("warning_days", pa.float64()),
        ("target_days", pa.float64()),
        ("status", pa.string()),
        ("priority", pa.int64()),
        ("weather", pa.string()),
        ("weather_delay_days", pa.float64()),
        ("disaster_zone", pa.bool_()),
        ("phh_persons", pa.int64()),
        ("aay_households", pa.int64()),
        ("monthly_allotment_cap", pa.bool_()),
        ("data_source", pa.string()),
        ("budget_cap", pa.float64()),
        ("open_orders", pa.int64()),
        ("open_order_qty", pa.float64()),
        ("episode", pa.int64()),
        ("allotment_used", pa.float64()),
    ]
)

#: The columns of sql/vendor_options.sql.
VENDOR_OPTIONS_SCHEMA = pa.schema(
    [
        ("vendor_id", pa.string()),
        ("sku", pa.string()),
        ("city", pa.string()),
        ("price", pa.float64()),
        ("lead_time_days", pa.float64()),
        ("status", pa.string()),
        ("latency_ms", pa.float64()),
        ("data_source", pa.string()),
        ("vendor_type", pa.string()),
        ("reliability", pa.float64()),
        ("min_order_qty", pa.float64()),
        ("pack_size", pa.float64()),
    ]
)

#: Vendor types the plan inputs draw for each vendor (resq.core.sourcing.VENDOR_TYPES).
CORE_VENDOR_TYPES = ("DEPOT", "MEDICAL_GAS", "DISTRIBUTOR", "QUICK_COMMERCE", "GENERAL")


def needs_decision(days, status, critical, lead, delay):
    """The WHERE clause of sql/candidates.sql (without the open-order filter), columnar."""
    days = np.asarray(days, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        late = days - (np.asarray(lead) + np.asarray(delay)) <= np.asarray(critical)
    return (status == "CRITICAL") | ((status == "WARNING") & late)


def candidate_rows_table(rows):
    """A candidates table (CANDIDATE_SCHEMA) from inventory-like dicts, with the analysis
    columns (effective consumption, days, thresholds, status, priority, weather delay)
    computed by ``resq.core.analyse`` so they are consistent with the core."""
    if not rows:
        return CANDIDATE_SCHEMA.empty_table()

    def column(name, default=None):
        return [r.get(name, default) for r in rows]

    a = analyse(
        np.array(column("current_stock"), dtype=np.float64),
        np.array(column("daily_consumption"), dtype=np.float64),
        np.array(column("sector"), dtype=object),
        category=np.array(column("category"), dtype=object),
        weather=np.array(column("weather", "Clear"), dtype=object),
        disaster_zone=np.array(column("disaster_zone", False), dtype=bool),
    )
    computed = {
        "effective_consumption": a.effective_consumption,
        "days_remaining": a.days_remaining,
        "critical_days": a.critical_days,
        "warning_days": a.warning_days,
        "target_days": a.target_days,
        "status": a.status,
        "priority": a.priority,
        "weather_delay_days": a.weather_delay_days,
    }
    defaults = {
        "org_name": None,
        "unit": "unit",
        "pack_size": 1.0,
        "lead_time_days": 1.0,
        "preferred_vendor": None,
        "weather": "Clear",
        "disaster_zone": False,
        "phh_persons": None,
        "aay_households": None,
        "data_source": "SIMULATED",
        "budget_cap": None,
        "open_orders": 0,
        "open_order_qty": 0.0,
        "episode": 0,
        "allotment_used": 0.0,
    }
    arrays = []
    for field in CANDIDATE_SCHEMA:
        if field.name in computed:
            arrays.append(pa.array(computed[field.name], field.type, from_pandas=True))
        elif field.name == "monthly_allotment_cap":
            caps = [DEFAULT_SECTOR_CONFIG[s].monthly_allotment_cap for s in column("sector")]
            arrays.append(pa.array(caps, field.type))
        else:
            arrays.append(pa.array(column(field.name, defaults.get(field.name)), field.type))
    return pa.Table.from_arrays(arrays, schema=CANDIDATE_SCHEMA)


def vendor_options_table(rows):
    """A vendor_options table (VENDOR_OPTIONS_SCHEMA) from dicts; a vendor without a type
    is GENERAL, as sql/vendor_options.sql reads it."""
    return pa.Table.from_pylist(
        [{"data_source": "SIMULATED", "vendor_type": "GENERAL", **r} for r in rows],
        schema=VENDOR_OPTIONS_SCHEMA,
    )


@st.composite
def plan_inputs(draw, max_orgs=6, org_budgets=False, only_decisions=True):
    """(candidates, vendor_options): a consistent candidate table as sql/candidates.sql
    returns it (plus open orders, which the plan must treat as COVERED) and the vendors
    serving its items, some offline, some items served by nobody online."""
    n_orgs = draw(st.integers(0, max_orgs))
    rows = []
    for k in range(n_orgs):
        sector = draw(st.sampled_from(sorted(CORE_ITEMS)))
        city = draw(st.sampled_from(CORE_CITIES))
        org = {
            "org_id": f"{sector[0]}-{k:02d}",
            "org_name": f"{sector.title()} {k}",
            "sector": sector,
            "city": city,
            "weather": draw(st.sampled_from(CORE_WEATHER)),
            "disaster_zone": draw(st.booleans()),
            "phh_persons": draw(st.integers(0, 300)) if sector == "PDS" else None,
            "aay_households": draw(st.integers(0, 30)) if sector == "PDS" else None,
            "budget_cap": (
                draw(st.one_of(st.none(), st.floats(0, 5_000).map(lambda x: round(x, 2))))
                if org_budgets
                else None
            ),
            "data_source": draw(st.sampled_from(["REAL", "SIMULATED"])),
        }
        items = CORE_ITEMS[sector]
        chosen = draw(st.lists(st.sampled_from(items), min_size=1, unique=True))
        for sku, name, category, unit, pack in chosen:
            rate = draw(st.floats(0.5, 40.0) if category != "RICE" else st.floats(5.0, 200.0))
            cover = draw(st.one_of(st.just(0.0), st.floats(0.0, 9.0)))
            has_open = draw(st.integers(0, 7)) == 0
            rows.append(
                {
                    **org,
                    "sku": sku,
                    "item_name": name,
                    "category": category,
                    "unit": unit,
                    "pack_size": pack,
                    "lead_time_days": float(draw(st.integers(1, 5))),
                    "preferred_vendor": draw(st.one_of(st.none(), st.sampled_from(CORE_VENDORS))),
                    "current_stock": round(rate * cover, 3),
                    "daily_consumption": rate,
                    "open_orders": 1 if has_open else 0,
                    "open_order_qty": draw(st.floats(0, 500)) if has_open else 0.0,
                    "episode": draw(st.integers(0, 3)),
                    "allotment_used": (
                        draw(st.floats(0, 2_000).map(lambda x: round(x, 1)))
                        if sector == "PDS"
                        else 0.0
                    ),
                }
            )
    candidates = candidate_rows_table(rows)
    if only_decisions and candidates.num_rows:
        keep = needs_decision(
            candidates["days_remaining"].to_numpy(zero_copy_only=False),
            np.asarray(candidates["status"].to_pylist(), dtype=object),
            candidates["critical_days"].to_numpy(),
            candidates["lead_time_days"].to_numpy(),
            candidates["weather_delay_days"].to_numpy(),
        )
        candidates = candidates.filter(pa.array(keep))
    pairs = sorted(
        set(zip(candidates["sku"].to_pylist(), candidates["city"].to_pylist(), strict=True))
    )
    pairs.append(("UNRELATED-SKU", "Bangalore"))  # vendors of other items must not matter
    # a vendor's type and reliability are its own; few values, so the ranking keys tie
    kinds = {v: draw(st.sampled_from(CORE_VENDOR_TYPES)) for v in CORE_VENDORS}
    reliability = {v: draw(st.sampled_from([None, 0.9, 0.9, 0.99])) for v in CORE_VENDORS}
    packs = {sku: pack for items in CORE_ITEMS.values() for sku, *_, pack in items}
    vendors = []
    for sku, city in pairs:
        count = draw(st.sampled_from([0, 1, 2, 2, 3, 3, 4]))
        for vendor in draw(st.permutations(CORE_VENDORS))[:count]:
            status = draw(st.sampled_from(["ONLINE", "ONLINE", "ONLINE", "OFFLINE", "UNKNOWN"]))
            vendors.append(
                {
                    "vendor_id": vendor,
                    "sku": sku,
                    "city": city,
                    "price": float(draw(st.integers(1, 100))),
                    "lead_time_days": float(draw(st.integers(0, 4))),
                    "status": status,
                    "latency_ms": (
                        float(draw(st.integers(5, 300))) if status == "ONLINE" else None
                    ),
                    "vendor_type": kinds[vendor],
                    "reliability": reliability[vendor],
                    "min_order_qty": draw(st.sampled_from([None, 0.0, 0.0, 10.0, 120.0, 2000.0])),
                    # a vendor's pack is a whole number of the item's packs (or the item's)
                    "pack_size": (
                        None
                        if (k := draw(st.sampled_from([0, 0, 1, 2, 5]))) == 0
                        else k * packs.get(sku, 1.0)
                    ),
                }
            )
    return candidates, vendor_options_table(vendors)


# --- backend suite: ids and names for loading ---------------------------------------------

#: Text a user may put in an id or a name column: any unicode (no lone surrogates), SQL
#: injection attempts, quotes and placeholders, up to the 1000-character limit. Never
#: blank, which validation refuses.
#: The characters a load refuses in codes and names (ids, cities, units, vendor names):
#: C0 and C1 controls, DEL, line and paragraph separators, bidirectional marks and overrides.
CONTROL_CHARACTERS = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u061c", "\u200e", "\u200f"]
    + [chr(c) for c in range(0x2028, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)
_CONTROL = frozenset(CONTROL_CHARACTERS)


def has_control(value: str) -> bool:
    return any(ch in _CONTROL for ch in value)


#: Text with at least one refused control character somewhere in it.
control_texts = st.tuples(
    st.text(max_size=8), st.sampled_from(CONTROL_CHARACTERS), st.text(max_size=8)
).map("".join)

hostile_ids = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
    st.sampled_from([n for n in HOSTILE_NAMES if not has_control(n)]),
    st.sampled_from(["'", "''", '"', "?", "$1", ":x", "%s", "--", ";", "\\", "`"]).map(
        lambda s: f"a{s}b"
    ),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=990, max_size=1000),
).filter(lambda s: s.strip() != "" and len(s) <= 1000 and not has_control(s))

# --- backend suite: networks for the stock_analysis property -----------------------------

SECTOR_NAMES = ("HOSPITAL", "PDS", "NGO")
CITIES = ("Bangalore", "Delhi", "Pune")
CATEGORIES = ("OXYGEN", "RICE", "KIT", "OTHER")
#: None: the city has no weather row at all (the analysis reads that as Clear).
WEATHER = (None, "Clear", "Cloudy", "Haze", "Rain", "Storm", "Flood")
THRESHOLD_DAYS = (0.0, 1.0, 2.5, 3.0, 5.0, 7.0, 14.0)

#: Stock or consumption levels: zero, subnormal, tiny, ordinary, huge.
amounts = st.one_of(
    st.sampled_from([0.0, 5e-324, 1e-9, 0.1, 1.0, 3.0, 7.0, 1e6, 1e12, 1e15, 1e300]),
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False),
)

#: How much stock an item holds: ("amount", x, 0), or ("days", d, ulps): exactly d days of
#: its effective demand, nudged by ulps units in the last place, so rows land on and right
#: beside every threshold.
covers = st.one_of(
    st.tuples(st.just("amount"), amounts, st.just(0)),
    st.tuples(st.just("days"), st.sampled_from(THRESHOLD_DAYS), st.sampled_from([-1, 0, 0, 1])),
)


@st.composite
def sector_configs(draw: st.DrawFn) -> dict[str, dict[str, object] | None]:
    """Per sector: None (keep the defaults) or a random valid ``sector_config`` row."""
    out: dict[str, dict[str, object] | None] = {}
    for sector in SECTOR_NAMES:
        if draw(st.booleans()):
            out[sector] = None
            continue
        critical = draw(st.sampled_from(THRESHOLD_DAYS))
        out[sector] = {
            "sector": sector,
            "critical_days": critical,
            "warning_days": critical + draw(st.sampled_from([0.0, 0.5, 4.0])),
            "target_days": draw(st.sampled_from([1.0, 14.0, 30.0])),
            "priority": draw(st.integers(1, 3)),
            "adverse_critical_days": draw(st.one_of(st.none(), st.sampled_from(THRESHOLD_DAYS))),
            "adverse_demand_multiplier": draw(st.sampled_from([1.0, 1.25, 1.5, 3.0])),
            "haze_demand_multiplier": draw(st.sampled_from([1.0, 1.25, 2.0])),
            "disaster_priority": draw(st.one_of(st.none(), st.integers(1, 3))),
            "monthly_allotment_cap": draw(st.booleans()),
        }
    return out


@st.composite
def analysis_networks(draw: st.DrawFn, max_orgs: int = 4, max_items: int = 12) -> dict[str, object]:
    """Organizations across the three sectors and cities, their items (zero, huge and
    on-threshold stock; zero consumption; demand spikes; forecasts), per-city weather from chaos
    (SIMULATED) or a feed (REAL) or none, disaster zones and sector configs."""
    n_orgs = draw(st.integers(1, max_orgs))
    sources = st.sampled_from(["REAL", "SIMULATED"])
    organizations = [
        {
            "org_id": f"ORG-{i}",
            "org_name": f"Org {i}",
            "sector": draw(st.sampled_from(SECTOR_NAMES)),
            "city": draw(st.sampled_from(CITIES)),
            "disaster_zone": draw(st.booleans()),
            "data_source": draw(sources),
        }
        for i in range(n_orgs)
    ]
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "org": st.integers(0, n_orgs - 1),
                    "category": st.sampled_from(CATEGORIES),
                    "daily_consumption": amounts,
                    "demand_factor": st.one_of(
                        st.none(),
                        st.none(),
                        st.sampled_from([0.5, 1.5, 3.0]),
                        st.floats(min_value=0.01, max_value=10.0),
                    ),
                    "cover": covers,
                    "data_source": sources,
                    # the item's demand_forecast row: none, one without a forecast (method
                    # NULL), or a forecast daily demand with its data_source
                    "forecast": st.one_of(
                        st.none(),
                        st.none(),
                        st.tuples(st.none(), sources),
                        st.tuples(amounts, sources),
                    ),
                }
            ),
            min_size=1,
            max_size=max_items,
        )
    )
    weather = {
        city: (draw(st.sampled_from(WEATHER)), draw(st.sampled_from(["CHAOS", "FEED"])))
        for city in CITIES
    }
    return {
        "sector_config": draw(sector_configs()),
        "organizations": organizations,
        "items": items,
        "weather": weather,
    }


# --- core: inventory loads with known bad cells (validation) -------------------------

#: Values validation must reject in a number column that must be >= 0 and finite.
BAD_NUMBERS = (-1.0, -1e-6, float("nan"), float("inf"), float("-inf"))
#: Values validation must reject in a required text column.
BLANK_TEXTS = ("", "   ", "\t\n", None)


@st.composite
def inventory_with_bad_cells(draw, max_rows=15):
    """(table, bad): an inventory_master load and the set of (1-based row, column) cells
    that were made bad (possibly none); every other cell is valid."""
    n = draw(st.integers(1, max_rows))
    columns = {
        "org_id": [f"ORG-{i}" for i in range(n)],
        "sku": [f"SKU-{i}" for i in range(n)],
        "item_name": [draw(st.sampled_from([*HOSTILE_NAMES[:4], "Rice"])) for _ in range(n)],
        "current_stock": [draw(st.floats(0, 1e6)) for _ in range(n)],
        "daily_consumption": [draw(st.floats(0, 1e4)) for _ in range(n)],
    }
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(columns))),
            unique=True,
            max_size=2 * n,
        )
    )
    for row, column in cells:
        if column in ("current_stock", "daily_consumption"):
            columns[column][row] = draw(st.sampled_from(BAD_NUMBERS))
        else:
            columns[column][row] = draw(st.sampled_from(BLANK_TEXTS))
    numeric = ("current_stock", "daily_consumption")
    table = pa.table(
        {
            name: pa.array(values, pa.float64() if name in numeric else pa.string())
            for name, values in columns.items()
        }
    )
    return table, {(row + 1, column) for row, column in cells}


# --- replay ------------------------------------------------------------------------------


@st.composite
def replay_networks(draw: st.DrawFn):
    """A small simulated replay network, with every vendor's status drawn."""
    from resq import replay

    net = replay.simulated_network(
        n_orgs=draw(st.integers(1, 6)),
        skus_per_org=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 1000)),
    )
    vendors = net.vendor_status["vendor_id"].to_pylist()
    status = [draw(st.sampled_from(["ONLINE", "OFFLINE"])) for _ in vendors]
    vs = net.vendor_status.set_column(1, "status", pa.array(status, pa.string()))
    return replay.ReplayNetwork(
        net.items, net.vendor_catalog, vs, net.weather, vendors=net.vendors,
        authorization=net.authorization,
    )  # fmt: skip


@st.composite
def chaos_schedules(draw: st.DrawFn, max_day: int = 40):
    """Vendor outages, weather spells, demand spikes and stock drops on the default
    network's vendors, cities and first organizations."""
    from resq.core.replay import ChaosSchedule

    def span():
        a = draw(st.integers(1, max_day))
        return a, draw(st.integers(a, max_day))

    vendors = ["Blinkit", "Dunzo", "Zepto", "Apollo Supply", "FCI Depot"]
    off = tuple((draw(st.sampled_from(vendors)), *span()) for _ in range(draw(st.integers(0, 3))))
    wx = tuple(
        (draw(st.sampled_from(["Bangalore", "Delhi"])),
         draw(st.sampled_from(["Clear", "Rain", "Storm", "Flood", "Haze"])), *span())
        for _ in range(draw(st.integers(0, 2)))
    )  # fmt: skip
    spikes = tuple(
        (None, None, draw(st.floats(0.0, 4.0)), *span()) for _ in range(draw(st.integers(0, 2)))
    )
    drops = tuple(
        ("HOSP-BLR-001", None, draw(st.integers(1, max_day)), draw(st.floats(0, 5)))
        for _ in range(draw(st.integers(0, 2)))
    )
    return ChaosSchedule(off, wx, spikes, drops)
