"""``marketdata`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marketdata", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample-data", help="write realistic sample .scid files into DIR "
                                           "(and matching .depth files into DIR/MarketDepthData)")
    p.add_argument("dir")
    p.add_argument("--seed", type=int, default=7)
    sub.add_parser("demo", help="materialize the Sierra path on sample data into SQLite and print a summary")
    sub.add_parser("migrate", help="apply the warehouse migrations to MARKETDATA_WAREHOUSE_URL")
    sub.add_parser("sidecar", add_help=False,
                   help="the streaming sidecar: tail .scid files into Redis (see README 'Streaming sidecar')")
    sub.add_parser("fake-providers", add_help=False,
                   help="local fake REST providers on 127.0.0.1 (--port N, --fault yahoo=429,retry_after=1)")
    sub.add_parser("fake-gateway", add_help=False,
                   help="local fake ProjectX gateway on 127.0.0.1 (--port N, --fault retrieveBars=429,count=2)")
    b = sub.add_parser("bench", help="run the benchmarks, write var/bench/results.json")
    b.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    b.add_argument("--scale", type=float, default=1.0, help="fraction of the standard sizes (for a quick look)")
    from marketdata_assets import lifecycle_cli

    lifecycle_cli.add_parsers(sub)
    args, rest = parser.parse_known_args(argv)

    if args.command == "sample-data":
        from marketdata_assets.testkit.sierra_sample import write_sample_data

        for path in write_sample_data(args.dir, seed=args.seed):
            print(path)
        from marketdata_assets.testkit.depth_sample import write_sample_depth

        for path in write_sample_depth(args.dir, f"{args.dir}/MarketDepthData", seed=args.seed):
            print(path)
        return 0
    if args.command == "demo":
        from marketdata_assets.demo import run_demo

        return run_demo()
    if args.command == "migrate":
        from marketdata_assets.settings import get_settings
        from marketdata_assets.storage.warehouse import open_warehouse

        with open_warehouse(get_settings().warehouse_url, migrate=False) as wh:
            print("applied:", wh.migrate() or "nothing (up to date)")
        return 0
    if args.command == "sidecar":
        from marketdata_assets.sidecar.__main__ import main as sidecar_main

        return sidecar_main(rest)
    if args.command == "fake-providers":
        from marketdata_assets.settings import get_settings
        from marketdata_assets.testkit.fakeproviders import main as fake_main

        if not any(a == "--port" or a.startswith("--port=") for a in rest):
            rest = ["--port", str(get_settings().fake_providers_port), *rest]
        return fake_main(rest)
    if args.command == "fake-gateway":
        from marketdata_assets.testkit.fakegateway import main as gateway_main

        return gateway_main(rest)
    if args.command == "bench":
        from marketdata_assets.bench.run import run_benchmarks

        return run_benchmarks(only=args.only, scale=args.scale)
    code = lifecycle_cli.run(args)
    if code is not None:
        return code
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
