"""The credentials rule (RFC 9111 §3.5): who may be given a stored response. Its one home.

A response is *shared* (given to any request of its variant) or *kept per credentials* (given
only to a request with the same ``CREDENTIAL_FIELDS`` values, keyed by an HMAC of them). A
request with ``Authorization`` is looked up per credentials, and gets a shared response only when
it was explicitly shareable; a ``private`` route keeps everything per credentials. Plain values
only: no chocs, no storage.
"""

from __future__ import annotations

from typing import NamedTuple

from .values import StoredResponse, VaryRecipe

__all__ = ["CREDENTIAL_FIELDS", "NEGOTIATION_FIELDS", "Keeping", "Lookup", "keeping", "lookups"]

CREDENTIAL_FIELDS = ("authorization", "cookie")
"""The request fields that say who the user is: a per-user entry is keyed by their values."""
NEGOTIATION_FIELDS = frozenset(("accept", "accept-charset", "accept-encoding", "accept-language"))
"""Request fields of content negotiation (RFC 9110 §12.5): the only ones across whose variants a
stored response may be validated (``cache_validate_variants``); any other may identify a user."""


class Lookup(NamedTuple):
    """How to look up the stored response for a request: the credentials rule, for reading."""

    recipe: VaryRecipe
    """The recipe the request's response is most likely stored under (a guess that saves a read)."""
    shared_allowed: bool
    """Whether a shared response that is not explicitly shareable may answer the request."""

    def may_serve(self, recipe: VaryRecipe, stored: StoredResponse) -> bool:
        """Whether ``stored``, kept under ``recipe``, may answer the request: one kept per
        credentials was found with the request's own; a shared one only when the request may have
        shared responses or the response is explicitly shareable."""
        return self.shared_allowed or recipe.per_credentials or stored.public


class Keeping(NamedTuple):
    """How a response is kept: the credentials rule, for storing."""

    per_credentials: bool
    """Kept under the request's credentials, served back only to them."""
    public: bool
    """Explicitly shareable: may answer requests with credentials of their own."""


def lookups(vary: tuple[str, ...], control: str | None) -> tuple[Lookup, Lookup]:
    """(how a request without ``Authorization`` is looked up, how one with it is), for a route
    that varies on ``vary`` with ``cache_control`` ``control``."""
    shared = VaryRecipe(tuple(sorted(vary)))
    per_credentials = VaryRecipe(shared.field_names, per_credentials=True)
    anonymous = Lookup(per_credentials if control == "private" else shared, True)
    authorized = anonymous if control == "public" else Lookup(per_credentials, False)
    return anonymous, authorized


def keeping(control: str | None, private: bool, explicitly_shareable: bool, has_authorization: bool) -> Keeping:
    """How a response is kept: ``private`` (the response's or the route's ``control``) keeps it per
    credentials; a response to a request with ``Authorization`` is kept for those credentials too,
    unless it is explicitly shareable (``public``, ``s-maxage``, a public route)."""
    private = private or control == "private"
    public = not private and (control == "public" or explicitly_shareable)
    return Keeping(per_credentials=private or (has_authorization and not public), public=public)
