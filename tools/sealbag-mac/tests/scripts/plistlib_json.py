#!/usr/bin/env python3
"""Independent truth for sealbag-mac's plist parser: Python's plistlib.

Usage: plistlib_json.py FILE...  -> one JSON object on stdout mapping each FILE
to {"ok": VALUE} or {"error": MESSAGE}. VALUE follows sealbag's documented
conversion (tools/sealbag-mac/src/plist.rs): dates RFC 3339 UTC with
microseconds when not whole, data base64, UIDs {"CF$UID": n}, non-finite
reals as the strings NaN/Infinity/-Infinity.
"""
import base64
import datetime
import json
import math
import plistlib
import sys


def convert(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        d = value
        text = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        return text + (f".{d.microsecond:06d}Z" if d.microsecond else "Z")
    if isinstance(value, plistlib.UID):
        return {"CF$UID": value.data}
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    return value  # int, str


out = {}
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as f:
            out[path] = {"ok": convert(plistlib.load(f))}
    except Exception as e:  # noqa: BLE001 - any refusal is the truth we compare with
        out[path] = {"error": f"{type(e).__name__}: {e}"}
json.dump(out, sys.stdout)
