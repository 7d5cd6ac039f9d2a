"""The stack the ops tests and benchmarks start: a part that dies while the stack waits for
it (its port taken since it was chosen, a bad setting) is reported at once with the end of
its log, not after the three-minute readiness deadline with the log deleted."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.ops.stack import ChaosStack, PartExited, free_port


async def test_a_sandbox_that_dies_at_start_is_reported_at_once_with_its_log(
    tmp_path: Path,
) -> None:
    stack = ChaosStack(tmp_path, "postgresql://unused", sandbox_port=free_port())
    dying = "import sys; print('port 1234 already in use'); sys.exit(3)"
    stack.start_part("sandbox", [sys.executable, "-c", dying])
    # Not the TimeoutError of a wait to the deadline: the exit itself is the answer.
    with pytest.raises(PartExited) as raised:
        await stack._sandbox_ready()
    assert raised.value.name == "sandbox"
    assert raised.value.returncode == 3
    assert "port 1234 already in use" in str(raised.value)


async def test_a_live_sandbox_that_answers_is_ready(tmp_path: Path) -> None:
    port = free_port()
    stack = ChaosStack(tmp_path, "postgresql://unused", sandbox_port=port)
    server = (
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    stack.start_part("sandbox", [sys.executable, "-c", server])
    try:
        await stack._sandbox_ready()
        process = stack.parts["sandbox"].process
        assert process is not None and process.poll() is None
    finally:
        stack.stop_part("sandbox")


async def test_a_listening_part_whose_port_was_taken_starts_again_on_another(
    tmp_path: Path,
) -> None:
    # The port was free when the stack chose it; by the time the part starts, something
    # (here a listener, in a real run any outgoing connection's source port) holds it.
    taken = free_port()
    stack = ChaosStack(tmp_path, "postgresql://unused", sandbox_port=taken)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        sandbox = [sys.executable, "-m", "cli", "sandbox"]
        try:
            await stack._start_listening("sandbox", sandbox, stack._sandbox_ready)
            assert stack.sandbox_port != taken
            process = stack.parts["sandbox"].process
            assert process is not None and process.poll() is None
            assert str(stack.sandbox_port) in stack.sandbox_url
        finally:
            stack.stop_part("sandbox")
            await stack.wait_exit("sandbox")
