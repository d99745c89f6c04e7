# Image for the Dagster webserver, daemon and sidecar (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /opt/marketdata
COPY pyproject.toml README.md ./
COPY marketdata_assets ./marketdata_assets
COPY sql ./sql
COPY workspace.yaml dagster.yaml ./
RUN pip install --no-cache-dir -e .
ENV DAGSTER_HOME=/opt/dagster_home
RUN mkdir -p "$DAGSTER_HOME" && cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
