"""Small file and process helpers of the local backend: markers that are created exactly once
and never torn, atomic rewrites, and a process's start time (to tell a reused pid)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..events import JobEvent
from .base import TAIL_CHARS, TAIL_LINES


def proc_start(pid: int) -> str | None:
    """The process's start time (Linux /proc), to tell a reused pid; None if not knowable.
    A zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return "zombie" if fields[0] in ("Z", "X") else fields[19]


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_events(path: Path) -> list[JobEvent]:
    """The events of an events.jsonl file ([] when missing). A torn last line (the job is
    writing it right now) is skipped; a bad line before it is an error."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    events = []
    for i, line in enumerate(lines):
        try:
            events.append(JobEvent.model_validate_json(line))
        except ValueError:
            if i < len(lines) - 1:
                raise ValueError(f"{path}:{i + 1} is not a job event: {line[:200]!r}") from None
    return events


def read_tail(job_dir: Path, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last lines of the job's train.log (stdout.log when train.log is empty), trimmed
    for a prompt."""
    for name in ("train.log", "stdout.log"):
        try:
            text = (job_dir / name).read_text(errors="replace")
        except OSError:
            continue
        if text.strip():
            return "\n".join(text.splitlines()[-lines:])[-chars:]
    return ""


def write_atomic(path: Path, text: str) -> None:
    tmp = _tmp_beside(path)
    tmp.write_text(text)
    tmp.replace(path)


def create_exclusive(path: Path, data: dict[str, Any]) -> bool:
    """Create `path` with `data` (complete, never torn) unless it exists; True if we did."""
    tmp = _tmp_beside(path)
    tmp.write_text(json.dumps(data, default=_json_default, indent=2))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _tmp_beside(path: Path) -> Path:
    """A temporary name no other process or thread uses at the same time."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{time.time_ns()}")
