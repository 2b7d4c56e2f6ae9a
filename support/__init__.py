"""What the tests, the benchmarks and the conformance run share (not shipped): real servers on
loopback (``processes``, ``redis_server``) and an app behind the middleware (``harness``)."""
