"""The bodies every benchmark route answers with, each about 2 KB."""

from __future__ import annotations

import base64
import json
import random

RECORDS = [{"id": n, "name": f"item-{n}", "tags": ["x", "y"]} for n in range(40)]
"""What the miss benchmark's handler serialises per request: 2 KB of JSON."""
BODY = json.dumps([{"id": n, "name": f"item-{n}", "tags": ["x", "y"]} for n in range(60)]).encode()[:2048]
"""The ~2 KB JSON constant: compresses well (its records repeat)."""
RANDOM_BODY = random.Random(2048).randbytes(len(BODY))
"""A body of the same size that compression cannot shrink (random bytes, always the same)."""
BASE64_BODY = base64.b64encode(random.Random(64).randbytes(len(BODY)))[: len(BODY)]
"""Text that compresses a little: base64 of random bytes (zlib keeps about three quarters)."""


def records_body() -> bytes:
    """The miss benchmark's answer, built as a handler builds one: ``json.dumps`` of its records."""
    return json.dumps(RECORDS).encode()
