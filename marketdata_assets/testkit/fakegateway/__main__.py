"""``python -m marketdata_assets.testkit.fakegateway --port 8910 --fault retrieveBars=429,count=2``."""

from marketdata_assets.testkit.fakegateway.server import main

raise SystemExit(main())
