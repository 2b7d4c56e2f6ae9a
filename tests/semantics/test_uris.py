from __future__ import annotations

from chocs_middleware.cache.semantics.uris import same_origin_references


def test_relative_and_same_host_references_are_kept() -> None:
    found = same_origin_references(
        "example.com",
        "/articles/",
        ["/articles/1", "2?full=1", "http://example.com/feeds", "https://EXAMPLE.com/x%20y"],
    )

    assert found == [("/articles/1", ""), ("/articles/2", "full=1"), ("/feeds", ""), ("/x y", "")]


def test_other_hosts_ports_and_junk_are_left_out() -> None:
    assert (
        same_origin_references("example.com", "/", ["http://evil.example/x", "//example.com:8080/x", "", "http://[::1"])
        == []
    )
