"""``make demo``: serve the example API through waitress and print the walk-through.

``HOST`` and ``PORT`` choose where it listens (default 127.0.0.1:8000): ``PORT=8080 make demo``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import waitress
from chocs import create_wsgi_handler

from examples.app import app
from examples.walkthrough import render


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    try:
        server = waitress.create_server(create_wsgi_handler(app), host=host, port=port, threads=8)
    except OSError as error:  # the port is taken, most likely by an earlier demo
        print(f"cannot listen on {host}:{port} ({error.strerror}): stop what uses it, or run PORT=8081 make demo")
        return 1
    print(render(f"http://{host}:{port}"), flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C ends the demo
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
