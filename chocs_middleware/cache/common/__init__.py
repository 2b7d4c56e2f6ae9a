"""What every layer may use: fault logging and breakers, bounded memos, option checks, counters.

Nothing here knows HTTP, a storage or chocs.
"""
