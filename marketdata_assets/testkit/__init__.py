"""The project's test kit: what tests, the demo and the benchmarks use in place of the outside
world, shipped in the package (the demo runs it from an installed wheel) and never imported
by production code (an import-linter contract).

- ``fakeproviders/``: fake REST data providers on 127.0.0.1 (``marketdata fake-providers``),
  answering with the recorded real responses in ``fakeproviders/recorded/`` (package data,
  stored once; read with :mod:`marketdata_assets.testkit.recorded`) or generated bars.
- ``fakegateway/``: a fake ProjectX gateway, REST and SignalR hub (``marketdata fake-gateway``).
- ``sierra_sample`` / ``depth_sample``: realistic sample ``.scid`` and ``.depth`` files
  (``marketdata sample-data``).
"""
