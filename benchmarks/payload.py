"""The ~2 KB JSON constant every benchmark route answers with."""

from __future__ import annotations

import json

BODY = json.dumps([{"id": n, "name": f"item-{n}", "tags": ["x", "y"]} for n in range(60)]).encode()[:2048]
