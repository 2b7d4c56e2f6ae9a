"""Equivalent requests share a stored variant; per-user variants are keyed under a secret."""

from __future__ import annotations

import logging

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CollectableInMemoryCacheStorage
from tests.conftest import Harness

BROWSERS = [  # Accept-Language as browsers and clients send it, for someone who reads German first
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "de-de,de;q=0.9,en-us;q=0.8,en;q=0.7",
    "de-DE, de;q=0.9, en-US;q=0.8, en;q=0.7",
    "de,en-US;q=0.7,en;q=0.3",
    "de-AT,de;q=0.9,en;q=0.8",
    "de-CH,de;q=0.8",
    "de",
    "de-DE",
    "DE-de",
    "de;q=1.0, en;q=0.5",
]
ENGLISH = ["en-US,en;q=0.9", "en-GB,en;q=0.9", "en", "en-US", "en;q=0.8,fr;q=0.5", "*"]
POLISH = ["pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7", "pl"]
NEITHER = ["fr-FR,fr;q=0.9", "ja"]
ACCEPTS = ["*/*", "application/json", "application/json, text/plain, */*", "text/html,application/xml;q=0.9,*/*;q=0.8"]


def localised(harness: Harness, **keywords: object) -> None:
    @harness.app.get("/greeting", cache_expiry=600, **keywords)
    def greeting(request: HttpRequest) -> HttpResponse:
        harness.count("greeting")
        wanted = str(request.headers.get("accept-language") or "").lower()
        words = {"de": "Hallo", "pl": "Cześć"}
        language = next((code for code in ("de", "pl") if wanted.startswith(code)), "en")
        return HttpResponse(words.get(language, "Hello"), headers={"content-language": language})


def stored_variants(harness: Harness) -> int:
    storage = harness.storage
    assert isinstance(storage, CollectableInMemoryCacheStorage)
    return storage.stats()["responses"]  # kept apart, or carried by their path's index


def test_a_route_that_says_what_it_produces_keys_each_request_by_its_best_match(harness: Harness) -> None:
    localised(harness, cache_vary={"accept-language": ("en", "de", "pl"), "accept": ("application/json",)})

    answers = {
        (language, accept): harness.client.get(
            "/greeting", headers={"Accept-Language": language, "Accept": accept}
        ).text
        for language in BROWSERS + ENGLISH + POLISH
        for accept in ACCEPTS
    }

    assert {answers[(language, accept)] for language in BROWSERS for accept in ACCEPTS} == {"Hallo"}
    assert {answers[(language, accept)] for language in ENGLISH for accept in ACCEPTS} == {"Hello"}
    assert {answers[(language, accept)] for language in POLISH for accept in ACCEPTS} == {"Cześć"}
    assert stored_variants(harness) == 3  # 18 spellings x 4 Accept forms: one per language produced
    assert harness.calls["greeting"] == 3


def test_a_client_that_accepts_none_of_the_values_gets_a_correct_answer_shared_with_its_kind(
    harness: Harness,
) -> None:
    localised(harness, cache_vary={"accept-language": ("de", "pl")})
    harness.client.get("/greeting", headers={"Accept-Language": "de"})

    french = harness.client.get("/greeting", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    japanese = harness.client.get("/greeting", headers={"Accept-Language": "ja"})

    assert french.text == japanese.text == "Hello"  # the handler's own fallback, not the German page
    assert japanese.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["greeting"] == 2


def test_without_a_list_spellings_of_the_same_preference_still_share_a_variant(harness: Harness) -> None:
    localised(harness, cache_vary=("accept-language",))

    for language in [*BROWSERS[:3], "de-DE,de;q=0.900,en-US;q=0.8,en;q=0.7,fr;q=0"]:
        harness.client.get("/greeting", headers={"Accept-Language": language})

    assert harness.calls["greeting"] == 1


def test_the_figure_docs_quote_ten_browser_strings_and_the_variants_they_make() -> None:
    counts = {}
    for label, keywords in (
        ("raw", {"cache_vary": ("accept-language",)}),
        ("listed", {"cache_vary": {"accept-language": ("en", "de", "pl")}}),
    ):
        harness = Harness()
        localised(harness, **keywords)
        for language in [*BROWSERS, *ENGLISH, *POLISH, *NEITHER]:
            harness.client.get("/greeting", headers={"Accept-Language": language})
        counts[label] = stored_variants(harness)

    assert len(BROWSERS + ENGLISH + POLISH + NEITHER) == 20
    assert counts == {"raw": 17, "listed": 4}  # docs/caching.md, "Variants": en, de, pl and "none matched"


def private_route(harness: Harness) -> None:
    @harness.app.get("/me", cache_expiry=600, cache_control="private")
    def me(request: HttpRequest) -> HttpResponse:
        harness.count("me")
        return HttpResponse(f"profile of {request.headers.get('authorization')}")


def test_processes_with_the_same_secret_share_per_user_entries_and_others_do_not() -> None:
    storage = CollectableInMemoryCacheStorage()
    one, same, other = (Harness(storage, secret=secret) for secret in (b"s" * 32, b"s" * 32, b"t" * 32))
    for harness in (one, same, other):
        private_route(harness)
    alice = {"Authorization": "Bearer alice"}
    one.client.get("/me", headers=alice)

    assert same.client.get("/me", headers=alice).headers["Cache-Status"].startswith("chocs-cache; hit")
    assert other.client.get("/me", headers=alice).headers["Cache-Status"].startswith("chocs-cache; fwd=vary-miss")
    assert same.client.get("/me", headers={"Authorization": "Bearer bob"}).text == "profile of Bearer bob"


def test_the_per_user_response_an_index_carries_is_given_to_its_user_only(harness: Harness) -> None:
    private_route(harness)
    alice, bob = {"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}
    harness.client.get("/me", headers=alice)  # carried by the path's index
    harness.client.get("/me", headers=bob)  # stored apart

    answers = {user: harness.client.get("/me", headers=headers) for user, headers in (("alice", alice), ("bob", bob))}
    anonymous = harness.client.get("/me")

    assert {user: answer.text for user, answer in answers.items()} == {
        "alice": "profile of Bearer alice",
        "bob": "profile of Bearer bob",
    }
    assert all(answer.headers["Cache-Status"].startswith("chocs-cache; hit") for answer in answers.values())
    assert anonymous.text == "profile of " and harness.calls["me"] == 3
    assert stored_variants(harness) == 2


def test_without_a_secret_the_first_per_user_entry_says_once_that_it_is_this_processs_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    private_route(harness)
    caplog.set_level(logging.INFO, logger="chocs_middleware.cache")

    for user in ("alice", "bob", "carol"):
        harness.client.get("/me", headers={"Authorization": f"Bearer {user}"})

    said = [record.getMessage() for record in caplog.records if "secret" in record.getMessage()]
    assert len(said) == 1 and "CacheMiddleware(secret=...)" in said[0]


@pytest.mark.parametrize(("secret", "error"), [(b"short", ValueError), (12345, TypeError)])
def test_a_secret_must_be_bytes_or_text_of_sixteen_bytes(secret: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"CacheMiddleware\(secret=\.\.\.\)"):
        Harness(secret=secret)
