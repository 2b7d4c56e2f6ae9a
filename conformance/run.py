"""``make conformance``: the public HTTP caching test suite against the middleware, next to the
published results of shared caches, classified as cache-tests.fyi classifies them.

The suite (http-tests/cache-tests) is read from ``CACHE_TESTS_DIR`` (see ``suite_source``)
and copied, with its node packages, into ``.cache-tests/`` (git-ignored). Its origin server, and
the chocs reverse proxy in ``conformance/proxy.py`` (waitress), listen on free ports of 127.0.0.1
and are stopped by PID. The suite runs once per configuration of the middleware; ``--floor N``
makes the run fail when the default configuration passes fewer than N required tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.processes import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SUITE_COPY = ROOT / ".cache-tests"
CONFIGURATIONS: dict[str, dict[str, object]] = {
    "chocs-cache (defaults)": {},
    "chocs-cache (targeted_fields=cdn)": {"targeted_fields": ["cdn-cache-control"]},
}


def suite_source() -> Path:
    """``CACHE_TESTS_DIR``, else the first ``shared/cache-tests`` beside this checkout or one of
    the folders above it (where the machines this project runs on keep a copy)."""
    if "CACHE_TESTS_DIR" in os.environ:
        return Path(os.environ["CACHE_TESTS_DIR"]).resolve()
    for folder in ROOT.resolve().parents:
        candidate = folder / "shared" / "cache-tests"
        if (candidate / "package.json").is_file():
            return candidate
    return (ROOT.parent / "shared" / "cache-tests").resolve()


def prepare_suite() -> Path:
    """A writable copy of the suite with its node packages (the source may be read-only)."""
    source = suite_source()
    if not (source / "package.json").is_file():
        sys.exit(f"no test suite at {source}: set CACHE_TESTS_DIR to a copy of http-tests/cache-tests")
    if (
        not (SUITE_COPY / "package.json").is_file()
        or (SUITE_COPY / "package.json").read_bytes() != (source / "package.json").read_bytes()
    ):
        shutil.rmtree(SUITE_COPY, ignore_errors=True)
        shutil.copytree(source, SUITE_COPY, ignore=shutil.ignore_patterns("node_modules", ".git"))
    if not (SUITE_COPY / "node_modules").is_dir():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"], cwd=SUITE_COPY, check=True
        )
    return SUITE_COPY


@contextmanager
def running(command: list[str], port: int, **options: object) -> Iterator[None]:
    process = subprocess.Popen(command, **options)  # type: ignore[call-overload]
    try:
        wait_for_port(port)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()


def run_suite(suite: Path, options: dict[str, object], output: Path, log: Path) -> None:
    """The suite's raw results for the middleware with ``options``, in ``output``; what the proxy
    logged (tracebacks of requests chocs cannot take, stale-if-error lines) in ``log``."""
    origin_port, proxy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as scratch:
        origin = ["node", "--import", (ROOT / "conformance" / "loopback.mjs").as_uri(), "test-engine/server/server.mjs"]
        origin_env = {
            **os.environ,
            "npm_config_port": str(origin_port),
            "npm_config_protocol": "http",
            "npm_config_pidfile": str(Path(scratch) / "origin.pid"),
        }
        proxy_env = {
            **os.environ,
            "ORIGIN": f"http://127.0.0.1:{origin_port}",
            "PORT": str(proxy_port),
            "CACHE_OPTIONS": json.dumps(options),
        }
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        proxy = [sys.executable, "-m", "conformance.proxy"]
        with (
            log.open("w") as proxy_log,
            running(origin, origin_port, cwd=suite, env=origin_env, **quiet),
            running(proxy, proxy_port, cwd=ROOT, env=proxy_env, stdout=proxy_log, stderr=proxy_log),
        ):
            output.write_text(_client_results(suite, proxy_port))


def _client_results(suite: Path, proxy_port: int) -> str:
    """What the suite's client prints, every test run against the proxy on ``proxy_port``."""
    client_env = {
        **os.environ,
        "npm_config_base": f"http://127.0.0.1:{proxy_port}",
        "npm_config_id": "",
        "npm_package_config_id": "",  # the CLI runs one test when either names one
    }
    result = subprocess.run(
        ["node", "--no-warnings", "test-engine/cli.mjs"],
        cwd=suite,
        env=client_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return result.stdout


def summarize(suite: Path, results: dict[str, Path]) -> dict[str, Any]:
    named = [f"{name}={path}" for name, path in results.items()]
    summary = subprocess.run(
        ["node", str(ROOT / "conformance" / "summarize.mjs"), str(suite), *named],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(summary.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floor", type=int, default=0, help="fail below this many required passes (defaults)")
    parser.add_argument("--failures", action="store_true", help="list the required tests each configuration fails")
    parser.add_argument("--keep", type=Path, help="a folder to keep the suite's raw results in")
    options = parser.parse_args()
    suite = prepare_suite()
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        results: dict[str, Path] = {}
        for label, settings in CONFIGURATIONS.items():
            results[label] = folder / f"configuration-{len(results)}.json"
            run_suite(suite, settings, results[label], results[label].with_suffix(".log"))
        summary = summarize(suite, results)
    print(
        f"HTTP caching test suite (cache-tests.fyi): {summary['required']} required, {summary['optimal']} optimal tests"
    )
    print(f"  {'cache':32s} {'required passed':>16s} {'optimal passed':>15s}")
    rows: dict[str, Any] = {**summary["ours"], **summary["caches"]}
    for name, counts in sorted(rows.items(), key=lambda row: -row[1]["required_passed"]):
        print(f"  {name:32s} {counts['required_passed']:16d} {counts['optimal_passed']:15d}")
    if options.failures:
        for name, counts in summary["ours"].items():
            print(f"\nRequired tests {name} does not pass:")
            for failure in counts["required_failed"]:
                print(f"  {failure['result']} {failure['id']}: {failure['name']} ({failure['detail']})")
    default = summary["ours"][next(iter(CONFIGURATIONS))]["required_passed"]
    if default < options.floor:
        sys.exit(f"conformance dropped: {default} required tests passed, the floor is {options.floor}")


if __name__ == "__main__":
    main()
