"""Packaging that ``pyproject.toml`` cannot state: the migrations in the top-level ``sql/``
ship inside the package as ``marketdata_assets.migrations`` (``package_dir`` mapping), so a
wheel and the editable install both find them with ``importlib.resources``. Everything
else (metadata, dependencies, package data) is in ``pyproject.toml``."""

from setuptools import find_packages, setup

MIGRATIONS = ["marketdata_assets.migrations", "marketdata_assets.migrations.sqlite",
              "marketdata_assets.migrations.postgres"]

setup(
    packages=[*find_packages(include=["marketdata_assets*"]), *MIGRATIONS],
    package_dir={"marketdata_assets.migrations": "sql"},
)
