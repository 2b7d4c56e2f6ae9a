"""Redis storage: one cache shared by every worker and every instance, on one server or a Redis
Cluster (``RedisCacheStorage``). Needs the ``redis`` extra."""

try:
    import redis  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'RedisCacheStorage needs the redis package: pip install "chocs-middleware.cache[redis]"'
    ) from error

from .publishing import EVERYTHING_CHANGED
from .storage import DEFAULT_TIMEOUT, RedisCacheStorage

__all__ = ["DEFAULT_TIMEOUT", "EVERYTHING_CHANGED", "RedisCacheStorage"]
