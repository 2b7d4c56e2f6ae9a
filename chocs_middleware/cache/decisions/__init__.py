"""Decisions on plain values: what was configured (options, route keywords), the credentials
rule, whether and how an answer is stored (``admission``), and the values they speak of
(``values``). No chocs, no storage, no clock unless it is passed in."""
