"""Instructions per request, counted by valgrind: the same count for the same code on any run, where
timings on a shared or noisy machine move by a tenth. For comparing two versions of a change.

``python -m benchmarks.instructions`` runs each kind of request in its own process under
``valgrind --tool=callgrind``, counting only inside ``itertools.starmap`` (the requests run through
it, and nothing else in the process does), so start-up, imports and the warm-up are left out:

- ``bare``: the miss benchmark's app without the cache, on URLs never asked before;
- ``miss``: the same app with the cache (in-memory storage), storing each new URL;
- ``miss-random``: the same, answering 2 KB of random bytes (a body that does not compress);
- ``hit``: the cached app asked again for 50 URLs it has stored;
- ``least``, ``least-zlib``: the miss, with ``LeastCache`` instead (``benchmarks/least_cache.py``:
  the floor under what a cache on chocs can cost), keeping bodies as they came or through zlib.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.least_cache import LeastCache
from benchmarks.misses import app_behind, app_with, request
from benchmarks.payload import RANDOM_BODY
from chocs_middleware.cache import InMemoryCacheStorage

KINDS = ("bare", "miss", "miss-random", "hit", "least", "least-zlib")
ROOT = Path(__file__).resolve().parent.parent


def run(kind: str, count: int) -> None:
    """The requests of one kind: a warm-up, then ``count`` through ``itertools.starmap``."""
    storage = InMemoryCacheStorage(max_items=100_000)
    if kind == "miss-random":
        wsgi = app_with(cached=True, storage=storage, answer=lambda: RANDOM_BODY)
    elif kind.startswith("least"):
        wsgi = app_behind(LeastCache(compress=kind == "least-zlib"))
    else:
        wsgi = app_with(cached=kind != "bare", storage=storage)
    stored = [f"/items/stored-{number}" for number in range(50)]
    for path in [f"/items/warm-{number}" for number in range(300)] + stored * 2:
        request(wsgi, path)
    paths = [stored[number % 50] if kind == "hit" else f"/items/{number}" for number in range(count)]
    list(itertools.starmap(request, [(wsgi, path) for path in paths]))


def counted(kind: str, count: int) -> float:
    """Instructions per request of ``kind``, as callgrind counts them."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=starmap_next",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--run",
            kind,
            "--count",
            str(count),
        ]
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind did not count {kind}: {done.stderr[-2000:]}")
    return int(found.group(1)) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("kinds", nargs="*", help=f"any of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--count", type=int, default=300, help="requests counted per kind")
    parser.add_argument("--run", choices=KINDS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        run(arguments.run, arguments.count)
        return
    unknown = [kind for kind in arguments.kinds if kind not in KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}: choose among {', '.join(KINDS)}")
    instructions_per_request(arguments.kinds or KINDS, arguments.count)


def instructions_per_request(kinds: Sequence[str] = KINDS, count: int = 300) -> None:
    """Print the instructions per request of each of ``kinds`` (part of ``make bench``)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    print(f"Instructions per request (valgrind, callgrind; {count} requests each, after a warm-up)")
    for kind in kinds:
        print(f"  {kind:12s} {counted(kind, count):12,.0f}")


if __name__ == "__main__":
    main()
