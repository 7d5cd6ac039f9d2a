"""The real ``campaigns`` command in a pseudo-terminal of a given size, its screen captured.

The child sees a terminal (isatty, a window size from ``TIOCSWINSZ``), not ``COLUMNS``: rich
sizes itself the way it would in an operator's terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from rich.cells import cell_len

# CSI (cursor moves, erase, colours) and OSC (titles, links) sequences.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-B]")


def screen_lines(raw: str) -> list[str]:
    """What the terminal drew, one line per row written: escapes removed, redraws split."""
    return [line.rstrip() for line in re.split(r"\r\n|\n|\r", _ESCAPES.sub("", raw))]


def widest(lines: list[str]) -> int:
    return max((cell_len(line) for line in lines), default=0)


class PtyRun:
    """``python -m cli ARGS`` with its stdin, stdout and stderr on a ``columns`` x ``rows``
    pseudo-terminal; a thread keeps reading so the child never blocks on a full buffer."""

    def __init__(self, args: list[str], *, cwd: Path, columns: int = 80, rows: int = 24) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                if self._process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            with self._lock:
                self._chunks.append(chunk)

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", errors="replace")

    def lines(self) -> list[str]:
        return screen_lines(self.text())

    def wait(self, timeout: float) -> int:
        """The exit code, once the child ends and its output is read (or TimeoutError)."""
        deadline = time.monotonic() + timeout
        try:
            code = self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise TimeoutError(f"campaigns did not end in {timeout} s:\n{self.text()}") from None
        self._reader.join(max(0.0, deadline - time.monotonic()) + 5)
        os.close(self._master)
        return code
