"""Container entrypoint (``Dockerfile`` ``ENTRYPOINT``): builds ``MARKETDATA_WAREHOUSE_URL`` from
its parts, then replaces itself with the container's command.

The compose stack passes the warehouse connection as ``MARKETDATA_PG_HOST``, ``_PORT``,
``_USER``, ``_PASSWORD`` and ``_DB``; the user name, password and database are URL-encoded
(``urllib.parse.quote`` with nothing left safe), so a password holding ``@ : / % #`` or spaces
reaches libpq unchanged. A ``MARKETDATA_WAREHOUSE_URL`` already set wins; nothing is printed
(the URL holds the password).

``python -m marketdata_assets.entrypoint dagster-webserver -h 0.0.0.0 …``
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from urllib.parse import quote

PARTS = ("MARKETDATA_PG_HOST", "MARKETDATA_PG_USER", "MARKETDATA_PG_PASSWORD", "MARKETDATA_PG_DB")


def warehouse_url(host: str, user: str, password: str, db: str, port: int | str = 5432) -> str:
    """``postgresql://user:password@host:port/db`` with user, password and database URL-encoded."""
    return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{int(port)}"
            f"/{quote(db, safe='')}")


def with_warehouse_url(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``env`` with ``MARKETDATA_WAREHOUSE_URL`` built from the ``MARKETDATA_PG_*`` parts, when it
    is not set and the parts are; unchanged otherwise."""
    if env.get("MARKETDATA_WAREHOUSE_URL") or not all(env.get(k) for k in PARTS):
        return env
    env["MARKETDATA_WAREHOUSE_URL"] = warehouse_url(env["MARKETDATA_PG_HOST"], env["MARKETDATA_PG_USER"],
                                                    env["MARKETDATA_PG_PASSWORD"], env["MARKETDATA_PG_DB"],
                                                    env.get("MARKETDATA_PG_PORT") or 5432)
    return env


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: python -m marketdata_assets.entrypoint COMMAND [ARGS...]")
    os.execvpe(argv[0], argv, dict(with_warehouse_url(dict(os.environ if env is None else env))))


if __name__ == "__main__":
    main()
