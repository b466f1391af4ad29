-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: code: the stage holding the resq package, and the package itself
CREATE STAGE IF NOT EXISTS RESQ_CODE;
PUT 'file:///opt/resq-deploy/resq.zip' @RESQ_CODE AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

-- step 2: functions: GET_WEATHER_DATA, GET_VENDOR_STATUS and GENERATE_REALISTIC_SIMULATION
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
