"""The warehouse migrations, installed as the package ``marketdata_assets.migrations``
(``setup.py`` maps this directory there); read with ``importlib.resources``."""
