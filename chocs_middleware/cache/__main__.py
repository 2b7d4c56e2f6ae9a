"""``python -m chocs_middleware.cache purge ...``: purge a Redis-backed cache from a shell
(``operations/cli.py``; docs/invalidation.md)."""

import sys

from .operations.cli import main

if __name__ == "__main__":
    sys.exit(main())
