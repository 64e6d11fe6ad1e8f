"""meta.json: what a run was and how far it got, kept current while it trains.

Written atomically (temporary file, then rename) so a reader never sees half a file, at the start,
at every scalar and checkpoint step, and at the end with the final status: running, completed,
interrupted or failed (with the error).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import w2v
from w2v import fileio

STATUSES = ("running", "completed", "interrupted", "failed")
SORT_KEYS = ("name", "status", "step", "loss", "wall", "started")  # what `w2v runs` (and list_runs) sorts by

META = "meta.json"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _git(cwd: Path) -> dict[str, Any] | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def read(run_dir: Path) -> dict[str, Any]:
    """The run's meta.json, or an empty dict for runs without one."""
    try:
        return json.loads((Path(run_dir) / META).read_text())
    except (OSError, ValueError):
        return {}


def command_line() -> str:
    """This process's command line, as it could be typed again: ``w2v train ...``, or for a run that a sweep
    started, ``/path/to/python -m w2v train ...``."""
    if Path(sys.argv[0]).name == "__main__.py":
        return shlex.join([sys.executable, "-m", "w2v", *sys.argv[1:]])
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


class RunMeta:
    """The live meta.json of a run this process is training."""

    def __init__(self, run_dir: Path, data: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.data = data

    @classmethod
    def begin(cls, run_dir: Path, seed: int, device: str, overrides: list[str] = (),
              command: str | None = None) -> RunMeta:
        """Mark the run running, a session more (a resume keeps the history), with the command line (or the
        Python ``command`` that called it) and the config overrides (``--set``) it was started with."""
        import tensorflow as tf

        data = read(run_dir)
        sessions = data.get("sessions", [])
        sessions.append({"started": _now(), "command": command or command_line(), "overrides": list(overrides),
                         "host": socket.gethostname(), "pid": os.getpid()})
        data.update({
            "name": Path(run_dir).name,
            "status": "running",
            "error": None,
            "started": data.get("started", sessions[-1]["started"]),
            "ended": None,
            "command": data.get("command", sessions[-1]["command"]),
            "sessions": sessions,
            "git": _git(Path.cwd()),
            "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                         "w2v": w2v.__version__},
            "device": device,
            "host": socket.gethostname(),
            "seed": seed,
        })
        data.setdefault("wall_time_s", 0.0)
        meta = cls(run_dir, data)
        meta.write()
        return meta

    def update(self, **fields: Any) -> None:
        """Merge fields and rewrite the file."""
        self.data.update(fields)
        self.write()

    def session(self, **fields: Any) -> None:
        """Merge fields into this session's record and rewrite the file."""
        self.data["sessions"][-1].update(fields)
        self.write()

    def end(self, status: str, error: str | None = None, reason: str | None = None) -> None:
        """Record how the session ended (``reason``: why a completed run stopped before its end)."""
        self.data["sessions"][-1]["ended"] = _now()
        self.update(status=status, error=error, reason=reason, ended=_now())

    def write(self) -> None:
        """Atomic rewrite of meta.json."""
        fileio.write_text(self.run_dir / META, json.dumps(self.data, indent=2, default=str))
