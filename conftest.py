"""Documentation is code: every Python block in README.md, PACKAGE.md (the package index's page),
CONTRIBUTING.md and docs/*.md runs as a test (Sybil).

Blocks of one page share a namespace, so a page can build an example step by step. A block that
is deliberately partial is preceded by ``<!-- skip: next "why" -->`` and shows up as skipped,
with that reason, in the test report.
"""

from __future__ import annotations

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["docs/*.md"],
    filenames=["README.md", "PACKAGE.md", "CONTRIBUTING.md"],
).pytest()
