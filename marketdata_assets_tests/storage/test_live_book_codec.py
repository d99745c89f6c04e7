"""The live book's messages: what json.dumps writes, for every batch end at once."""

from __future__ import annotations

import json

import numpy as np

from marketdata_assets.storage.live_book_codec import encode_books, last_message


def test_messages_are_byte_for_byte_json_dumps_of_each_book():
    prices = np.array([0.0, 99.75, 100.0, 1.09005, 1e16, 123456.5])
    ids = np.full((2, 3, 4), -1)
    ids[0, 0, :3], ids[1, 0, :1] = [5, 2, 1], [4]          # batch 0: three bids, one ask
    ids[1, 1, :4] = [0, 1, 3, 5]                            # batch 1: asks only
    qty = np.arange(24).reshape(2, 3, 4) * 1_000_003        # batch 2: an empty book
    orders = np.arange(24).reshape(2, 3, 4) % 7
    ts = np.array([1_758_578_400_000_000, 0, -1])
    instrument = 'NQZ6.CME"x'

    lines = encode_books(instrument, ts, ids, qty, orders, prices)

    expected = []
    for j in range(3):
        side = [[[float(prices[k]), int(qty[s, j, lvl]), int(orders[s, j, lvl])]
                 for lvl, k in enumerate(ids[s, j]) if k >= 0] for s in (0, 1)]
        expected.append(json.dumps({"type": "book", "instrument": instrument, "ts_us": int(ts[j]),
                                    "bids": side[0], "asks": side[1]}).encode())
    assert lines == b"".join(m + b"\n" for m in expected)
    assert last_message(lines) == expected[-1]
    assert json.loads(expected[0])["bids"][0] == [123456.5, 0, 0] and json.loads(expected[1])["asks"][2][0] == 1.09005
    assert encode_books(instrument, ts[:0], ids[:, :0], qty[:, :0], orders[:, :0], prices) == b""
