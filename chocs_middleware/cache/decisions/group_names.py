"""Cache group names from route keywords: templates of the path parameters, or a function of the request.

``cache_groups=("users", "user:{user_id}")`` on a read, ``cache_invalidates=...`` on a write
(RFC 9875 names groups; the route says which). The templates are checked against the route's
pattern when the route is; a function is called per request.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["MAX_GROUP_TEMPLATES", "GroupNames", "parameter_text", "route_parameters"]

MAX_GROUP_TEMPLATES = 64
_PARAMETER = re.compile(r"\{\s*([a-z_][a-z0-9_-]*)\s*\}")
"""A path parameter in a chocs route pattern (``/users/{user_id}``), as chocs finds them."""


def route_parameters(pattern: str) -> tuple[str, ...]:
    """The names of the path parameters of a route pattern, in order."""
    return tuple(match.group(1) for match in _PARAMETER.finditer(pattern))


def fill_pattern(pattern: str, parameters: Mapping[str, object]) -> str:
    """``pattern`` with each path parameter's parsed value in its place (``parameter_text``)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return parameter_text(parameters[name]) if name in parameters else match.group(0)

    return _PARAMETER.sub(value, pattern)


def parameter_text(value: object) -> str:
    """A parsed parameter as text that parses back to it (``True`` is ``true``, ``1.0`` stays ``1.0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class GroupNames:
    """A route's ``cache_groups`` or ``cache_invalidates``: names formatted with the request's path
    parameters (``"user:{user_id}"``), or a function of the request that returns them."""

    def __init__(self, route: str, keyword: str, value: object) -> None:
        self.route, self.keyword = route, keyword
        self.function: Callable[[Any], object] | None = None
        self.templates: tuple[str, ...] = ()
        if callable(value):
            self.function = value
        elif isinstance(value, str):
            self.templates = (value,)  # one group, not one per character
        elif isinstance(value, (tuple, list, set, frozenset)):
            self.templates = tuple(value)
        else:
            raise TypeError(
                f'{self._where} must be group names (a tuple of strings such as ("users", "user:{{user_id}}")) '
                f"or a function of the request, got {value!r}"
            )
        if len(self.templates) > MAX_GROUP_TEMPLATES:
            raise ValueError(f"{self._where} names {len(self.templates)} groups; at most {MAX_GROUP_TEMPLATES}")
        parameters = route_parameters(route)
        for template in self.templates:
            self._check(template, parameters)

    @property
    def _where(self) -> str:
        return f"{self.keyword} on route {self.route!r}"

    def _check(self, template: object, parameters: tuple[str, ...]) -> None:
        if not isinstance(template, str):
            raise TypeError(f"{self._where} must contain strings, got {template!r}")
        try:
            fields = [
                (name, spec, conversion)
                for _, name, spec, conversion in string.Formatter().parse(template)
                if name is not None
            ]
        except ValueError as error:
            raise ValueError(f"{self._where}: {template!r} is not a valid template ({error})") from None
        for name, spec, conversion in fields:
            if name not in parameters or spec or conversion:
                known = ", ".join(parameters) or "none"
                raise ValueError(
                    f"{self._where}: {template!r} uses {{{name}{'!' + conversion if conversion else ''}"
                    f"{':' + spec if spec else ''}}}; only the route's path parameters can be named, "
                    f"as {{name}} (its parameters: {known})"
                )

    def names(self, parameters: Mapping[str, object], request: object) -> tuple[str, ...]:
        """The group names for one request (``parameters``: its parsed path parameters; ``request``:
        the framework's request, for a function)."""
        if self.function is None:
            texts = {name: parameter_text(value) for name, value in parameters.items()}
            return tuple(dict.fromkeys(template.format_map(texts) for template in self.templates))
        result = self.function(request)
        if isinstance(result, str):
            return (result,)
        names = list(result) if isinstance(result, Iterable) else None
        if names is None or not all(isinstance(name, str) for name in names):
            raise TypeError(f"the function given as {self._where} must return group names (strings), got {result!r}")
        return tuple(dict.fromkeys(names))

    def __repr__(self) -> str:
        return f"GroupNames({self._where}: {self.function or self.templates!r})"
