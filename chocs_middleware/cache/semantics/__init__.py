"""HTTP semantics as small pure functions: no chocs, no storage, no clock unless passed in."""
