-- The simulation as Python functions, from the resq package uploaded to the stage
-- RESQ_CODE (resq.zip). Vectorized: Snowflake hands each call a batch of rows as pandas,
-- and the same columnar code as the library (resq.simulation) labels every value SIMULATED.
-- Re-running replaces the functions (they hold no data); COPY GRANTS keeps the USAGE
-- granted on them. HANDLER and PACKAGES are the ones declared in resq.inside.OBJECTS
-- (resq deploy snowflake --check verifies them).

CREATE OR REPLACE FUNCTION GET_WEATHER_DATA(CITY VARCHAR)
COPY GRANTS
RETURNS VARCHAR
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('numpy==2.*', 'pandas==2.*', 'pyarrow')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.functions.weather_batch';

CREATE OR REPLACE FUNCTION GET_VENDOR_STATUS(VENDOR VARCHAR)
COPY GRANTS
RETURNS OBJECT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('numpy==2.*', 'pandas==2.*', 'pyarrow')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.functions.vendor_status_batch';

-- A table function: SELECT * FROM TABLE(GENERATE_REALISTIC_SIMULATION('HOSP-1', 'OXY-CYL', 30, 7))
CREATE OR REPLACE FUNCTION GENERATE_REALISTIC_SIMULATION(
    ORG_ID VARCHAR, SKU VARCHAR, DAYS NUMBER, SEED NUMBER
)
COPY GRANTS
RETURNS TABLE (
    ORG_ID VARCHAR, SKU VARCHAR, DAY DATE, CONSUMPTION FLOAT, STOCK FLOAT, STOCKOUT BOOLEAN,
    DATA_SOURCE VARCHAR
)
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('numpy==2.*', 'pyarrow')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.series.SimulationSeries';
