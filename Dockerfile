# Image for the Dagster webserver, daemon and sidecar (docker-compose.yml).
FROM python:3.11-slim
# installed as a wheel-style package (migrations included as package data); the sources are
# removed afterwards so nothing in the working directory shadows the installed package
COPY pyproject.toml setup.py README.md /src/
COPY marketdata_assets /src/marketdata_assets
COPY sql /src/sql
RUN pip install --no-cache-dir /src && rm -rf /src
WORKDIR /opt/marketdata
COPY workspace.yaml dagster.yaml ./
ENV DAGSTER_HOME=/opt/dagster_home
RUN mkdir -p "$DAGSTER_HOME" /data && cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
# builds MARKETDATA_WAREHOUSE_URL from MARKETDATA_PG_* (password URL-encoded), then runs the command
ENTRYPOINT ["python", "-m", "marketdata_assets.entrypoint"]
