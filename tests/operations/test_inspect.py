"""``inspect`` lists what is stored for a URL; ``explain`` says what a request would get, without
running the handler (docs/invalidation.md, "Inspecting the cache")."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CollectableInMemoryCacheStorage, RedisCacheStorage, TieredCacheStorage
from support.harness import Clock, Harness
from support.redis_server import RedisServer


def shop(harness: Harness) -> None:
    @harness.app.get("/products/{product_id}", cache_expiry=60, cache_stale_while_revalidate=30)
    def product(request: HttpRequest) -> HttpResponse:
        harness.count("product")
        language = request.headers.get("accept-language") or "en"
        return HttpResponse(f"product in {language}", headers={"content-type": "text/plain"})

    @harness.app.get("/basket", cache_expiry=60)
    def basket(request: HttpRequest) -> HttpResponse:
        session = request.cookies["session"].value if "session" in request.cookies else "none"
        return HttpResponse(f"basket of {session}")

    @harness.app.get("/live")
    def live(request: HttpRequest) -> HttpResponse:
        return HttpResponse("not cached")

    harness.middleware.attach(harness.app)


@pytest.fixture(params=["in-memory", "redis"])
def harness(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Harness]:
    if request.param == "in-memory":
        made = Harness(CollectableInMemoryCacheStorage(clock=clock), clock=clock)
        shop(made)
        yield made
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    storage = RedisCacheStorage.from_url(server.url, prefix=request.getfixturevalue("redis_prefix"))
    made = Harness(storage, clock=clock)
    shop(made)
    yield made
    storage.close()


def visit(harness: Harness, path: str, host: str = "a.example", **headers: str) -> None:
    harness.client.get(path, headers={"Host": host, **headers})


def test_inspect_lists_every_stored_variant_of_a_path_on_every_host(harness: Harness) -> None:
    visit(harness, "/products/1", **{"Accept-Language": "de"})
    visit(harness, "/products/1?ref=x", **{"Accept-Language": "en"})
    visit(harness, "/products/1", "b.example")
    visit(harness, "/products/2")

    records = harness.middleware.inspect("/products/1")

    assert [record["host"] for record in records] == ["a.example", "a.example", "b.example"]
    assert {record["status"] for record in records} == {200}
    first = records[0]
    assert first["shared"] and first["fresh"] and first["ttl"] == 60 and first["age"] == 0
    assert first["stale_while_revalidate"] == 30 and first["content_type"] == "text/plain"
    assert first["etag"].startswith('"') and first["size"] > len("product in de")
    assert len(harness.middleware.inspect("https://b.example/products/1")) == 1


def test_inspect_says_when_a_response_is_kept_for_one_user(harness: Harness) -> None:
    visit(harness, "/basket", **{"Cookie": "session=alice"})
    visit(harness, "/basket")

    shared = [record["shared"] for record in harness.middleware.inspect("/basket")]

    assert sorted(shared) == [False, False]  # keyed on the session cookie: alice's, and no session's


def test_inspect_changes_nothing(harness: Harness) -> None:
    visit(harness, "/products/1")

    harness.middleware.inspect("/products/1")

    assert (
        harness.client.get("/products/1", headers={"Host": "a.example"})
        .headers["Cache-Status"]
        .startswith("chocs-cache; hit")
    )


def test_explain_says_what_each_request_would_get(harness: Harness, clock: Clock) -> None:
    visit(harness, "/products/1", **{"Accept-Language": "de"})
    explain = harness.middleware.explain

    hit = explain("https://a.example/products/1", {"Accept-Language": "de"})
    other_language = explain("https://a.example/products/1", {"Accept-Language": "fr"})
    other_product = explain("https://a.example/products/2")
    clock.advance(70)
    stale = explain("https://a.example/products/1", {"Accept-Language": "de"})
    clock.advance(30)
    late = explain("https://a.example/products/1", {"Accept-Language": "de"})

    assert (hit["outcome"], hit["ttl"]) == ("hit", 60)
    assert other_language == {"outcome": "miss", "reason": "vary-miss"}
    assert other_product == {"outcome": "miss", "reason": "uri-miss"}
    assert (stale["outcome"], stale["ttl"]) == ("stale-while-revalidate", -10)
    assert (late["outcome"], late["reason"]) == ("validate", "stale")
    assert harness.calls["product"] == 1, "explain never runs the handler"


def test_explain_a_path_the_cache_leaves_alone(harness: Harness) -> None:
    assert harness.middleware.explain("/live") == {"outcome": "pass", "reason": "the route is not cached"}
    assert harness.middleware.explain("/nowhere") == {"outcome": "pass", "reason": "no route"}


def test_explain_needs_attach() -> None:
    harness = Harness()

    with pytest.raises(RuntimeError, match="attach"):
        harness.middleware.explain("/products/1")


def test_with_a_tier_inspect_says_whether_this_process_holds_a_copy(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    tiers = [TieredCacheStorage(RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)) for _ in range(2)]
    storing, other = Harness(tiers[0]), Harness(tiers[1])
    for harness in (storing, other):
        shop(harness)
    deadline = time.monotonic() + 10
    while not all(tier.listening for tier in tiers) and time.monotonic() < deadline:
        time.sleep(0.01)  # a tier keeps copies once it hears Redis's changes
    visit(storing, "/products/1")
    seen_here: list[dict[str, object]] = []
    while not any(record["in_tier"] for record in seen_here) and time.monotonic() < deadline:
        time.sleep(0.02)  # the news of its own store comes back from Redis, and drops a copy read before it
        visit(storing, "/products/1")  # a hit: read from Redis, and a copy kept in its tier
        seen_here = storing.middleware.inspect("/products/1")
    seen_there = other.middleware.inspect("/products/1")

    assert [record["in_tier"] for record in seen_here] == [True]
    assert [record["in_tier"] for record in seen_there] == [False]
    for tier in tiers:
        tier.close()


def test_with_debug_inspect_shows_what_each_response_was_stored_for(clock: Clock) -> None:
    harness = Harness(CollectableInMemoryCacheStorage(clock=clock), clock=clock, debug=True)

    @harness.app.get("/products/{product_id}", cache_expiry=60, cache_groups=("products",))
    def product(request: HttpRequest) -> HttpResponse:
        session = request.cookies["session"].value if "session" in request.cookies else ""
        return HttpResponse(f"{request.query_string.get('page')} {session}")

    visit(harness, "/products/1?page=2&utm_source=x", **{"Accept-Language": "de", "Cookie": "session=secret"})

    (record,) = harness.middleware.inspect("/products/1")

    assert record["key"] == (
        "accept: (none); accept-language: de; cookie session: per user; query: page=2; groups: products"
    )
    assert "secret" not in str(record)
