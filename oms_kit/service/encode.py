"""JSON for the HTTP API: the OMS's values (Decimal, datetime, enums, DataFrames, value objects) as plain JSON.

Money and prices keep every digit as strings ("2500.05"), times are ISO 8601 with their zone, enums their text, a
DataFrame a list of row objects with its missing cells (NaN, NaT, None) as null. Nothing here is specific to a
route: the REST router uses it now, and the event stream and the other APIs built on the same app can use it too.

:func:`dumps` writes with orjson, which walks the value in C and asks :func:`jsonable` only for what it does not know
(Decimal, datetime, DataFrame...): an order's JSON costs a fifth of what the walk in Python and ``json.dumps`` cost.
What orjson refuses (an integer beyond 64 bits, a key that is not a string, a lone surrogate) takes the path in
Python, so the text is the same JSON either way.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
import pandas as pd
from starlette.responses import JSONResponse


def jsonable(value: Any) -> Any:
    """``value`` as what ``json.dumps`` takes without help: Decimal as str, datetime and date as ISO 8601 (a
    pandas Timestamp too), an enum as its value, a DataFrame as a list of dicts, a mapping or sequence item by
    item, an object with ``to_dict()`` as that dict; NaN, infinities, NaT and pandas' NA as None."""
    if value is None or isinstance(value, str | bool | int):
        return value if not isinstance(value, Enum) else value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):  # a pandas Timestamp is a datetime; NaT is one that equals nothing
        return None if value != value else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return frame_records(value)
    if value is pd.NA or value is pd.NaT:
        return None
    item = getattr(value, "item", None)  # a numpy scalar (int64, float64, bool_)
    if callable(item) and getattr(value, "shape", None) == ():
        return jsonable(item())
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(value)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts keyed by its columns."""
    columns = [str(c) for c in frame.columns]
    return [{name: jsonable(cell) for name, cell in zip(columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]


# Datetimes and dataclasses go to jsonable too: its ISO 8601 text and its reading of a dataclass (to_dict, or str)
# are the API's, whatever orjson would make of them.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON (no NaN: it is not JSON)."""
    try:
        return orjson.dumps(content, default=jsonable, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: something only the path in Python writes
        pass
    value = jsonable(content)
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate (a hostile text echoed) has no UTF-8: escape it, as JSON may
        return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


class OmsJSONResponse(JSONResponse):
    """A JSON response that encodes the OMS's values with :func:`jsonable`."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
