"""What ``make demo`` tells you to try, as data: printed as curl commands, and replayed by the tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    title: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    expect_status: int = 200
    expect_cache_status: str = ""
    """The start of the ``Cache-Status`` the step shows."""
    copy_etag: bool = False
    """Use the ``ETag`` of the previous step in ``If-None-Match``."""
    expect_body: str = ""
    """Text the body holds."""

    def curl(self, base_url: str, etag: str = '"<the ETag step 2 showed>"') -> str:
        parts = ["curl -i"]
        if self.method != "GET":
            parts.append(f"-X {self.method}")
        headers = dict(self.headers)
        if self.copy_etag:
            headers["If-None-Match"] = etag
        parts.extend(f"-H '{name}: {value}'" for name, value in headers.items())
        if self.body:
            parts.append(f"-d '{self.body}'")
        parts.append(base_url + self.path)
        return " ".join(parts)


STEPS = (
    Step(
        "A miss: the handler runs (200 ms) and the response is stored",
        "GET",
        "/articles/1",
        expect_cache_status="chocs-cache; fwd=uri-miss; fwd-status=200; stored",
    ),
    Step(
        "A hit: served from the cache at once, with Age",
        "GET",
        "/articles/1",
        expect_cache_status="chocs-cache; hit",
    ),
    Step(
        "Revalidation: send the ETag of step 2 back and get 304 Not Modified, no body",
        "GET",
        "/articles/1",
        expect_status=304,
        expect_cache_status="chocs-cache; hit",
        copy_etag=True,
    ),
    Step(
        "Another language is another variant: a miss, then stored",
        "GET",
        "/articles/1",
        headers={"Accept-Language": "de"},
        expect_cache_status="chocs-cache; fwd=vary-miss",
    ),
    Step(
        'The list of articles: stored too, in the cache group "articles"',
        "GET",
        "/articles",
        expect_cache_status="chocs-cache; fwd=uri-miss; fwd-status=200; stored",
    ),
    Step(
        "A write, sure of what it changes: PATCH with If-Match succeeds and invalidates every variant",
        "PATCH",
        "/articles/1",
        headers={"Content-Type": "application/json", "If-Match": '"article-1-v1"'},
        body='{"title": "Caching, revised"}',
        expect_cache_status="chocs-cache; fwd=method; fwd-status=200; detail=invalidated",
    ),
    Step(
        'After the write: a miss again, with the new title and ETag "article-1-v2"',
        "GET",
        "/articles/1",
        expect_cache_status="chocs-cache; fwd=uri-miss",
    ),
    Step(
        'The list is new too: the PATCH invalidated the group "articles" (cache_invalidates)',
        "GET",
        "/articles",
        expect_cache_status="chocs-cache; fwd=uri-miss",
    ),
    Step(
        "A lost update stopped: a PATCH still holding version 1 gets 412 from the cache, without the handler",
        "PATCH",
        "/articles/1",
        headers={"Content-Type": "application/json", "If-Match": '"article-1-v1"'},
        body='{"title": "Overwrites the revision"}',
        expect_status=412,
        expect_cache_status="chocs-cache; hit",
    ),
    Step(
        "A page that reads the session cookie, nothing declared: stored for alice",
        "GET",
        "/dashboard",
        headers={"Cookie": "session=alice"},
        expect_cache_status="chocs-cache; fwd=uri-miss; fwd-status=200; stored",
        expect_body='"dashboard of": "alice"',
    ),
    Step(
        "Bob gets his own page, not alice's: the cache saw the handler read the cookie",
        "GET",
        "/dashboard",
        headers={"Cookie": "session=bob"},
        expect_cache_status="chocs-cache; fwd=vary-miss",
        expect_body='"dashboard of": "bob"',
    ),
    Step(
        "A tracking parameter the handler never reads: alice's page, from the cache",
        "GET",
        "/dashboard?utm_source=newsletter",
        headers={"Cookie": "session=alice"},
        expect_cache_status="chocs-cache; hit",
        expect_body='"dashboard of": "alice"',
    ),
)


def render(base_url: str) -> str:
    lines = [f"chocs-cache demo on {base_url} (in-memory storage). Try, in order:", ""]
    for number, step in enumerate(STEPS, start=1):
        lines.append(f"{number}. {step.title}")
        lines.append(f"   {step.curl(base_url)}")
        lines.append(f"   -> {step.expect_status}, Cache-Status: {step.expect_cache_status}...")
        lines.append("")
    lines.append("Stop the server with Ctrl+C.")
    return "\n".join(lines)
