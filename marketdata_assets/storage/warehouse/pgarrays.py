"""Fast partition reads from PostgreSQL: one aggregate row per query, decoded with numpy.

Row-at-a-time transfer (``COPY … TO STDOUT`` or ``fetchall``) costs microseconds per row in
Python. Instead every column comes back as one value: fixed-width columns as a binary
array (``array_agg``) decoded by ``np.frombuffer``, text columns as one ``string_agg``
joined by ``\\x1e`` with ``\\x1f`` standing for NULL (the warehouse refuses to store either
character, so the split is exact). All aggregates of a query consume the same single scan
in the same order, so the arrays stay aligned row for row.
"""

from __future__ import annotations

import struct

import numpy as np
from psycopg import sql as pgsql
from psycopg.adapt import Loader

SEP, NULL = "\x1e", "\x1f"
_ARRAY_OIDS = {"int8[]": 1016, "int4[]": 1007, "int2[]": 1005, "float8[]": 1022}
_ELEM = {"ts": ">i8", "date": ">i4", "f8": ">f8", "i8": ">i8", "i2": ">i2"}
_STRUCT = {">i8": ">q", ">i4": ">i", ">f8": ">d", ">i2": ">h"}


class RawBytes(Loader):
    """Keep a binary array value as bytes instead of building a Python list."""

    format = 1  # binary

    def load(self, data):
        return bytes(data)


def register(cursor) -> None:
    for oid in _ARRAY_OIDS.values():
        cursor.adapters.register_loader(oid, RawBytes)


def select_expr(column: str, kind: str) -> pgsql.Composable:
    c = pgsql.Identifier(column)
    if kind == "ts":
        return pgsql.SQL("array_agg((extract(epoch FROM {}) * 1000000)::bigint)").format(c)
    if kind == "date":
        return pgsql.SQL("array_agg(({} - date '1970-01-01')::int4)").format(c)
    if kind == "f8":
        return pgsql.SQL("array_agg(coalesce({}, 'NaN'::float8))").format(c)
    if kind in ("i8", "i2"):
        return pgsql.SQL("array_agg({})").format(c)
    return pgsql.SQL("string_agg(coalesce({}::text, {}), {})").format(c, pgsql.Literal(NULL), pgsql.Literal(SEP))


def decode(kind: str, value) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, null mask or None) of one aggregated column."""
    if value is None:
        return np.empty(0, dtype=np.float64 if kind == "f8" else np.int64), None
    if kind in _ELEM:
        return _decode_array(value, _ELEM[kind])
    parts = np.array(value.split(SEP), dtype=object)
    null = parts == NULL
    if null.any():
        parts[null] = None
        return parts, null
    return parts, None


def _decode_array(buf: bytes, elem: str) -> tuple[np.ndarray, np.ndarray | None]:
    ndim, has_null, _oid = struct.unpack_from(">iii", buf, 0)
    if ndim == 0:
        return np.empty(0, dtype=np.dtype(elem).newbyteorder("=")), None
    (n, _lb) = struct.unpack_from(">ii", buf, 12)
    offset = 12 + 8 * ndim
    if not has_null:
        arr = np.frombuffer(buf, dtype=[("len", ">i4"), ("v", elem)], count=n, offset=offset)
        return arr["v"].astype(np.dtype(elem).newbyteorder("=")), None
    width = np.dtype(elem).itemsize
    values = np.zeros(n, dtype=np.dtype(elem).newbyteorder("="))
    null = np.zeros(n, dtype=bool)
    pos = offset
    unpack = struct.Struct(_STRUCT[elem]).unpack_from
    for i in range(n):  # only columns that hold NULLs take this path
        (length,) = struct.unpack_from(">i", buf, pos)
        pos += 4
        if length < 0:
            null[i] = True
        else:
            values[i] = unpack(buf, pos)[0]
            pos += width
    return values, null
