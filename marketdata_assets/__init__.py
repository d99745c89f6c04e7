"""Market-data platform: files, providers and gateway into an audited warehouse."""

__version__ = "0.1.0"
