-- docker-compose only: a second database for Dagster's run/event/schedule storage.
CREATE DATABASE dagster;
