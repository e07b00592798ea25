"""Running qgis_process the way a user does, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "scripts" / "qgis_process"


def venv_site() -> str:
    return sysconfig.get_paths()["purelib"]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without what the test process itself added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "INSARHUB_"))}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(extra)
    return env


def run_wrapper(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``./scripts/qgis_process ARGS`` (the README's wrapper)."""
    return subprocess.run([str(WRAPPER), *args], capture_output=True, text=True, env=env or clean_env(), timeout=timeout)


def run_algorithm(algorithm: str, parameters: dict[str, object], env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    """Run one algorithm through the wrapper with ``--json``; return the process and its results."""
    args = ["--json", "run", algorithm, "--"]
    args += [f"{key}={value}" for key, value in parameters.items()]
    done = run_wrapper(*args, env=env)
    results: dict = {}
    start = done.stdout.find("{")
    if start >= 0:
        try:
            results = json.loads(done.stdout[start:]).get("results", {})
        except json.JSONDecodeError:
            results = {}
    return done, results
