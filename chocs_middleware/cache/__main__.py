"""``python -m chocs_middleware.cache purge ...``: purge a Redis-backed cache from a shell.

Every process and host that shares the Redis sees a purge at once. Exit status: 0 when the purge
was done, 1 when Redis could not be reached or refused it, 2 for a mistake in the command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .clock import SYSTEM_CLOCK
from .entry_store import StorageGuard
from .faults import FaultLog
from .purge import Purger, split_url

__all__ = ["main"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chocs_middleware.cache",
        description="Operate on the responses chocs-cache stored in Redis (docs/invalidation.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    purge = commands.add_parser(
        "purge",
        help="remove stored responses",
        description="Remove stored responses: of paths, of cache groups, or all of them.",
    )
    purge.add_argument(
        "--redis",
        default=os.environ.get("CHOCS_CACHE_REDIS_URL", DEFAULT_URL),
        metavar="URL",
        help="the Redis the cache uses (default: $CHOCS_CACHE_REDIS_URL, else %(default)s)",
    )
    purge.add_argument(
        "--prefix", default="chocs-cache:", help="the key prefix the storage was given (default: %(default)s)"
    )
    what = purge.add_subparsers(dest="what", required=True, metavar="what")
    urls = what.add_parser(
        "url",
        help="every stored response of paths",
        description="Every stored response of each path, whatever its query string and variant: a bare "
        "path (/users/1) on every host, an absolute URL (https://api.example.com/users/1) on its host.",
    )
    urls.add_argument("urls", nargs="+", metavar="URL")
    groups = what.add_parser(
        "groups", help="every stored response in cache groups", description="Every stored response in the groups."
    )
    groups.add_argument("groups", nargs="+", metavar="GROUP")
    groups.add_argument("--host", help="only the groups of this host (default: every host)")
    what.add_parser("all", help="every stored response", description="Every response the cache stored.")
    return parser


def main(arguments: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    options = parser.parse_args(arguments)
    try:
        from .redis_storage import RedisCacheStorage
    except ImportError as error:  # the redis extra is missing
        print(f"error: {error}", file=sys.stderr)
        return 1
    if options.what == "url":
        for url in options.urls:
            try:
                split_url(url)
            except (TypeError, ValueError) as error:
                parser.error(str(error))
    try:
        storage = RedisCacheStorage.from_url(options.redis, prefix=options.prefix, timeout=10.0)
    except ValueError as error:
        parser.error(f"--redis {options.redis!r} is not a Redis URL: {error}")
    purger = Purger(StorageGuard(storage, FaultLog(clock=SYSTEM_CLOCK), SYSTEM_CLOCK))
    try:
        if options.what == "url":
            for url in options.urls:
                print(f"{url}: {purger.purge(url)} stored responses removed")
        elif options.what == "groups":
            where = f"of {options.host}" if options.host else "on every host"
            removed = purger.purge_groups(options.groups, options.host)
            print(f"groups {', '.join(options.groups)} {where}: {removed} stored responses removed")
        else:
            print(f"everything: {purger.purge_all()} stored responses removed")
    except Exception as error:
        print(f"error: the purge failed against Redis at {options.redis}: {error}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
