"""Storages: the protocol every storage speaks (``protocol``), and the built-in ones (in-memory,
tiered, Redis). A storage only keeps opaque ``CacheItem``s; everything HTTP is above it."""
