"""The Snowflake backend: ``resq.connect("snowflake://...")`` or :func:`from_session`.

Importing this package loads neither Snowpark nor the connector: they are imported when a
backend connects, and a missing one names the extra to install (``resq[snowflake]``).
"""

from resq.backends.snowflake.backend import SnowflakeBackend, from_session

__all__ = ["SnowflakeBackend", "from_session"]
