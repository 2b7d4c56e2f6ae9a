"""``python -m chocs_middleware.cache purge ...`` and ``... inspect URL``: purge a Redis-backed
cache from a shell, and list what it stores for a path.

Every process and host that shares the Redis sees a purge at once. Exit status of a purge:

- 0: the purge was done, and every process with an in-process tier acknowledged it;
- 1: Redis could not be reached, or refused it;
- 2: a mistake in the command;
- 3: nothing this cache stored matches the prefix or host given (a wrong ``--prefix``, or a host
  spelled otherwise than the app's requests name it): nothing was done;
- 4: the purge was done in Redis, but some processes with an in-process tier did not say in time
  that they dropped their copies (each stops serving them when its lease runs out).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ..clock import SYSTEM_CLOCK
from ..common.faults import FaultLog
from ..entries.guard import StorageGuard
from ..entries.ids import host_name
from ..error import NotAcknowledged
from .inspect import inspect
from .purge import Purger, split_url

__all__ = ["main"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
NOTHING_MATCHED = 3
NOT_ACKNOWLEDGED = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chocs_middleware.cache",
        description="Operate on the responses chocs-cache stored in Redis (docs/invalidation.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    purge = commands.add_parser(
        "purge",
        help="remove stored responses",
        description="Remove stored responses: of paths, of cache groups, or all of them. Exit status: 0 done, "
        "1 Redis failed, 2 a mistake in the command, 3 nothing stored matches the prefix or host, "
        "4 done, but not every process with an in-process tier acknowledged it in time.",
    )
    _connection(purge)
    purge.add_argument("--dry-run", action="store_true", help="count what the purge would remove, and remove nothing")
    purge.add_argument(
        "--soft",
        action="store_true",
        help="make the responses stale instead of removing them: served stale within their windows while one "
        "refresh runs (not with all)",
    )
    _purge_targets(purge.add_subparsers(dest="what", required=True, metavar="what"))
    inspecting = commands.add_parser(
        "inspect",
        help="list the stored responses of a path",
        description="One JSON line per stored response of the path (every query string and variant): its host, "
        "variant id, status, whether shared or kept for one user, age, ttl, stale windows and size. Exit status: "
        "0 done (nothing printed: nothing stored), 1 Redis failed, 2 a mistake in the command.",
    )
    _connection(inspecting)
    inspecting.add_argument("url", metavar="URL", help="a path (every host) or an absolute URL (its host)")
    inspecting.add_argument("--host", help="only this host, as requests name it in Host")
    explaining = commands.add_parser(
        "explain",
        help="what a GET would get, without running the handler",
        description="Load the app's CacheMiddleware (MODULE:NAME, attached to its app) and say, as one JSON line, "
        "what a GET of URL with the headers would get now: hit, stale-while-revalidate, validate, miss and why, "
        "or pass. Useful with a shared storage (Redis): an in-memory one starts empty in this process.",
    )
    explaining.add_argument("--middleware", required=True, metavar="MODULE:NAME", help="such as myapp.web:cache")
    explaining.add_argument("url", metavar="URL", help="an absolute URL, or a path with a Host header")
    explaining.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'")
    return parser


def _purge_targets(what: Any) -> None:
    """``purge``'s subcommands: what to purge."""
    urls = what.add_parser(
        "url",
        help="every stored response of paths",
        description="Every stored response of each path, whatever its query string and variant: a bare "
        "path (/users/1) on every host, an absolute URL (https://api.example.com/users/1) on its host.",
    )
    urls.add_argument("urls", nargs="+", metavar="URL")
    prefixes = what.add_parser(
        "prefix",
        help="every stored response of the paths under prefixes",
        description="Every stored response of the paths under each prefix (/reports/), on every host; a route "
        "template given to url (/users/{user_id}) purges every path of the route. Both need the app's "
        "CacheMiddleware(purge_patterns=True).",
    )
    prefixes.add_argument("prefixes", nargs="+", metavar="PREFIX")
    groups = what.add_parser(
        "groups", help="every stored response in cache groups", description="Every stored response in the groups."
    )
    groups.add_argument("groups", nargs="+", metavar="GROUP")
    groups.add_argument(
        "--host",
        help="only the groups of this host, as requests name it in Host, with its port unless it is 80 or 443 "
        "(default: every host)",
    )
    what.add_parser("all", help="every stored response", description="Every response the cache stored.")


def _connection(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--redis",
        default=os.environ.get("CHOCS_CACHE_REDIS_URL", DEFAULT_URL),
        metavar="URL",
        help="the Redis the cache uses (default: $CHOCS_CACHE_REDIS_URL, else %(default)s)",
    )
    command.add_argument(
        "--prefix", default="chocs-cache:", help="the key prefix the storage was given (default: %(default)s)"
    )


def _removed(count: int | None) -> str:
    if count is None:
        return "every stored response removed (a new epoch: the old entries expire on their own)"
    return f"{count} stored response{'' if count == 1 else 's'} removed"


def _purges(purger: Purger, options: argparse.Namespace) -> Iterator[str]:
    """Run the purges the command asks for, saying what each removed (or, with ``--dry-run``,
    would remove)."""
    dry, soft = options.dry_run, options.soft
    said = _would_remove if dry else _made_stale if soft else _removed
    if options.what == "url":
        for url in options.urls:
            yield f"{url}: {said(purger.would_purge(url) if dry else purger.purge(url, soft))}"
    elif options.what == "prefix":
        for prefix in options.prefixes:
            yield f"{prefix}: {said(purger.would_purge_prefix(prefix) if dry else purger.purge_prefix(prefix, soft))}"
    elif options.what == "groups":
        where = f"of {options.host}" if options.host else "on every host"
        groups, host = options.groups, options.host
        removed = purger.would_purge_groups(groups, host) if dry else purger.purge_groups(groups, host, soft)
        yield f"groups {', '.join(groups)} {where}: {said(removed)}"
    else:
        yield f"everything: {said(None if dry else purger.purge_all())}"


def _made_stale(count: int | None) -> str:
    return f"{count} stored response{'' if count == 1 else 's'} made stale"


def _would_remove(count: int | None) -> str:
    if count is None:
        return "would remove every stored response (a dry run: nothing was removed)"
    return f"would remove {count} stored response{'' if count == 1 else 's'} (a dry run: nothing was removed)"


def _unmatched(options: argparse.Namespace, known: list[str]) -> str | None:
    """Why the purge matches nothing this cache stored (``None``: it may match something)."""
    if not known:
        return (
            f"nothing is stored under the prefix {options.prefix!r} in {options.redis}: is it the prefix "
            f"the app's RedisCacheStorage was given? Nothing was purged"
        )
    hosts = [host_name(options.host)] if options.what == "groups" and options.host else []
    if options.what == "url":
        hosts = [host for host, _ in map(split_url, options.urls) if host is not None]
    strangers = [host for host in hosts if host not in known]
    if not strangers:
        return None
    listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
    return (
        f"no response of {', '.join(strangers)} is stored (hosts with stored responses: {listed}); "
        f"a host is named with its port unless it is 80 or 443. Nothing was purged"
    )


def main(arguments: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    options = parser.parse_args(arguments)
    if options.command == "explain":
        return _explain(parser, options)
    try:
        from ..storages.redis import RedisCacheStorage
    except ImportError as error:  # the redis extra is missing
        print(f"error: {error}", file=sys.stderr)
        return 1
    if options.command == "inspect":
        return _inspect(parser, options, RedisCacheStorage)
    if options.soft and options.what == "all":
        parser.error("purge --soft all: everything cannot be made stale at once; name urls, prefixes or groups")
    for url in options.urls if options.what == "url" else options.prefixes if options.what == "prefix" else ():
        try:
            _, path = split_url(url)
        except (TypeError, ValueError) as error:
            parser.error(str(error))
        if options.what == "prefix" and path == "/":
            parser.error(f"a prefix is a path below the root such as /reports/, got {url!r}")
    try:
        storage = RedisCacheStorage.from_url(options.redis, prefix=options.prefix, timeout=10.0)
    except (TypeError, ValueError) as error:
        parser.error(f"--redis {options.redis!r} / --prefix {options.prefix!r}: {error}")
    purger = Purger(StorageGuard(storage, FaultLog(clock=SYSTEM_CLOCK), SYSTEM_CLOCK))
    try:
        unmatched = _unmatched(options, purger.hosts())
        if unmatched is not None:
            print(unmatched, file=sys.stderr)
            return NOTHING_MATCHED
        for line in _purges(purger, options):
            print(line)
    except NotAcknowledged as error:
        print(f"error: {error}", file=sys.stderr)
        return NOT_ACKNOWLEDGED
    except Exception as error:
        print(f"error: the purge failed against Redis at {options.redis}: {error}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    return 0


def _inspect(parser: argparse.ArgumentParser, options: argparse.Namespace, storage_class: Any) -> int:
    """``inspect URL``: one JSON line per stored response."""
    try:
        split_url(options.url)
        storage = storage_class.from_url(options.redis, prefix=options.prefix, timeout=10.0)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    guard = StorageGuard(storage, FaultLog(clock=SYSTEM_CLOCK), SYSTEM_CLOCK)
    try:
        for record in inspect(guard, Purger(guard), options.url, options.host):
            print(json.dumps(record))
    except Exception as error:
        print(f"error: the inspection failed against Redis at {options.redis}: {error}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    return 0


def _explain(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    """``explain --middleware MODULE:NAME URL [-H ...]``: the middleware's ``explain``, as JSON."""
    module_name, _, name = options.middleware.partition(":")
    fields: dict[str, str] = {}
    for header in options.header:
        field, separator, value = header.partition(":")
        if not separator or not field.strip():
            parser.error(f"-H takes 'Name: value', got {header!r}")
        fields[field.strip()] = value.strip()
    try:
        middleware = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        parser.error(f"--middleware {options.middleware!r}: {error}")
    if not callable(getattr(middleware, "explain", None)):
        parser.error(f"--middleware {options.middleware!r} is not a CacheMiddleware")
    try:
        print(json.dumps(middleware.explain(options.url, fields)))
    except Exception as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
