"""Streamlit in Snowflake entry point (the project's ``main_file``), copied into the project
by ``resq deploy snowflake --out DIR``.

Runs the resq dashboard (``resq/dashboard/app.py``, copied beside this file under
``resq/``) on the app's Snowpark session; the packages it may import are those of the
project's ``environment.yml`` (``resq.inside.APP_PACKAGES``).
"""

import runpy

runpy.run_module("resq.dashboard.app", run_name="__main__")
