"""The quarantine's ``raw`` JSON is built a column at a time (a file's worth of out-of-range
records must not cost a dict and a ``json.dumps`` a row); it must read exactly as the
row-by-row ``json.dumps`` of each row's values did, for every value a rejected row can hold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from marketdata_assets.transforms.quarantine import _json_value, json_objects


def row_by_row(frame: pd.DataFrame) -> list[str]:
    return [json.dumps({k: _json_value(v) for k, v in row.items()}, default=str)
            for row in frame.astype(object).to_dict(orient="records")]


def test_column_wise_json_equals_row_by_row_json_for_hostile_values():
    frame = pd.DataFrame({
        "ts": pd.to_datetime([0, 1, None, 1_700_000_000_123_456], unit="us", utc=True).as_unit("us"),
        "kind": np.array([0, 1, 2, 0], np.int16),
        "open": np.array([np.nan, np.inf, -np.inf, 1.08615], np.float32),
        "close": np.array([0.1, 1e16, -1.99900095e37, 5e-324]),
        "volume": np.array([1, 2, 3, 4294967295], np.uint32),
        "text": [None, "buy", "é€\"", 3],
        "flag": [True, False, True, False],
        "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
    })

    got = json_objects(frame, list(frame.columns))

    assert got == row_by_row(frame)
    assert json.loads(got[1])["open"] == "inf" and json.loads(got[0])["open"] is None


def test_no_columns_or_no_rows_give_empty_objects():
    frame = pd.DataFrame({"a": [1, 2]})

    assert json_objects(frame, []) == ["{}", "{}"]
    assert json_objects(frame.iloc[0:0], ["a"]) == []
