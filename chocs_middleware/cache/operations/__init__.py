"""Operations: purges from code and from a shell, and the Prometheus export of the counters."""
