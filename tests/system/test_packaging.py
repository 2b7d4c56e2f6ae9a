"""The source distribution carries its tests: unpacked, it collects the same suite as the repository."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from support.processes import ROOT

pytestmark = pytest.mark.system


def collected(directory: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_the_sdist_carries_a_collectable_test_suite_and_the_licence(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (archive,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python versions that warn without a filter
            tar.extractall(tmp_path, filter="data")
        else:  # pragma: no cover - older patch releases
            tar.extractall(tmp_path)
    (unpacked,) = (path for path in tmp_path.iterdir() if path.is_dir())

    assert (unpacked / "LICENSE").read_text().startswith("MIT License")
    assert collected(unpacked) == collected(ROOT)


def test_the_wheel_and_the_sdist_install_into_a_fresh_venv_and_import(tmp_path: Path) -> None:
    """On the Python running the suite (``make test`` runs it on the oldest and newest found too)."""
    outdir = str(tmp_path / "dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", outdir, str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    for artifact in (wheel, sdist):
        venv = tmp_path / f"venv-{artifact.suffix}"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        python = venv / "bin" / "python"
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"{artifact}[redis]"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        imported = subprocess.run(
            [str(python), "-c", IMPORT_CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.strip() == "2.0.0.dev0 CacheMiddleware RedisCacheStorage"


IMPORT_CHECK = """
from importlib.metadata import distributions
from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage, RedisCacheStorage
CacheMiddleware(CollectableInMemoryCacheStorage())
(version,) = [d.version for d in distributions() if d.metadata["Name"] == "chocs-middleware.cache"]
print(version, CacheMiddleware.__name__, RedisCacheStorage.__name__)
"""
