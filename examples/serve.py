"""``make demo``: serve the example API through waitress and print the walk-through."""

from __future__ import annotations

import os

import waitress
from chocs import create_wsgi_handler

from examples.app import app
from examples.walkthrough import render


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    print(render(f"http://{host}:{port}"), flush=True)
    waitress.serve(create_wsgi_handler(app), host=host, port=port, threads=8, _quiet=True)


if __name__ == "__main__":
    main()
