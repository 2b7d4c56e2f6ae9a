"""The public HTTP caching test suite (cache-tests.fyi) against a chocs reverse proxy on the middleware."""
