"""``python -m marketdata_assets.fakeproviders --port 8900 --fault yahoo=429``."""

from marketdata_assets.fakeproviders.server import main

raise SystemExit(main())
