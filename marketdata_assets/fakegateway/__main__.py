"""``python -m marketdata_assets.fakegateway --port 8910 --fault retrieveBars=429,count=2``."""

from marketdata_assets.fakegateway.server import main

raise SystemExit(main())
