"""Catalog steps over the warehouse (assets of ``defs/catalog/``): symbol sync and asset
enrichment (:mod:`.symbols`), and the data integrity report (:mod:`.integrity`)."""
