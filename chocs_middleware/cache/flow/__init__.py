"""The flow: what the cache does with a request (read, write, answers from storage, flights),
framework-free, behind a port (``port.py``) that each framework's adapter implements."""
