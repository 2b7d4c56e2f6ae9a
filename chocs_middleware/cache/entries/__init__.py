"""The entry model over any storage: what a request's entries are called (``ids``, ``target``),
their stored form (``serialisation``), and how they are found, stored and invalidated on a
guarded storage (``store``, ``invalidation``, ``guard``, ``pending``)."""
