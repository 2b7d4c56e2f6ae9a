"""Framework adapters: each implements the flow's port (``flow/port.py``) for one framework."""
