"""The handlers of GET_WEATHER_DATA and GET_VENDOR_STATUS, vectorized functions of
sql/snowflake/functions.sql.

Each is a thin shell over resq.simulation, so Snowflake computes exactly what the library
does. Import surface: numpy and pyarrow (resq.simulation, resq.core), and pandas inside the
handlers (Snowflake hands them pandas batches); never the backends or sqlglot.
The same functions run as local Python in Snowpark's local testing mode
(tests/test_snowflake_tier1_*).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from resq import simulation


def _vectorized(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Mark ``func`` as a vectorized (pandas batch) UDF inside Snowflake; elsewhere (no
    ``_snowflake`` module) it stays a plain function."""
    try:
        from _snowflake import vectorized
    except ImportError:
        return func
    import pandas as pd

    marked: Callable[[Any], Any] = vectorized(input=pd.DataFrame)(func)
    return marked


# --------------------------------------------------------------------------- functions


def weather_series(cities: Any) -> Any:
    """GET_WEATHER_DATA over a pandas Series of city names (None stays None)."""
    import pandas as pd

    values = pa.array(cities.astype(object).where(cities.notna(), None).tolist(), pa.string())
    return pd.Series(simulation.get_weather_data_batch(values).to_pylist(), index=cities.index)


def vendor_status_series(vendors: Any) -> Any:
    """GET_VENDOR_STATUS over a pandas Series of vendor names: one OBJECT (a dict with
    status, latency_ms and data_source) per row, None for a NULL vendor."""
    import pandas as pd

    values = pa.array(vendors.astype(object).where(vendors.notna(), None).tolist(), pa.string())
    return pd.Series(simulation.get_vendor_status_batch(values).to_pylist(), index=vendors.index)


@_vectorized
def weather_batch(frame: Any) -> Any:
    """The vectorized GET_WEATHER_DATA handler: column 0 of the batch is the city."""
    return weather_series(frame[0])


@_vectorized
def vendor_status_batch(frame: Any) -> Any:
    """The vectorized GET_VENDOR_STATUS handler: column 0 of the batch is the vendor."""
    return vendor_status_series(frame[0])
