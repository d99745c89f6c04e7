"""``python -m marketdata_assets.testkit.fakeproviders --port 8900 --fault yahoo=429``."""

from marketdata_assets.testkit.fakeproviders.server import main

raise SystemExit(main())
