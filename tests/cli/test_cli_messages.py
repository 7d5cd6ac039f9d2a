"""What the CLI prints when it is refused or cannot reach the API: one line on stderr, the
API's reason with each thing named once, no exception class names, no traceback."""

from __future__ import annotations

import re
import socket

from tests.api.conftest import CAMPAIGN_BODY, Stack, new_owner
from tests.api.conftest import stack as stack
from tests.cli.test_client_commands import campaigns

LEAKED_CLASS = re.compile(r"[A-Za-z]*(Error|Exception)\b|Traceback|Value error,")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def one_clean_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert not LEAKED_CLASS.search(stderr), stderr
    return lines[0]


async def test_unreachable_api_and_live_stream_are_one_line_each(stack: Stack) -> None:
    _, key = await new_owner(stack)
    url = f"http://127.0.0.1:{closed_port()}"
    listed = await campaigns(stack, key, "list", url=url)
    assert listed.exit_code == 1
    line = one_clean_line(listed.stderr)
    assert line.startswith(f"campaigns: cannot reach the API at {url}: "), line
    watched = await campaigns(stack, key, "watch", "c1", url=url)
    assert watched.exit_code == 1
    line = one_clean_line(watched.stderr)
    assert line.startswith("campaigns: cannot open the live stream at ws://127.0.0.1:"), line
    assert "[Errno" not in listed.stderr + watched.stderr
    # Nothing is drawn for a stream that never opened: no empty bars above the reason.
    assert watched.stdout == ""


async def test_a_refusal_names_its_field_once(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = (await owner.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
    nonsense = await campaigns(stack, key, "extend", draft["id"], "next tuesday")
    assert nonsense.exit_code == 1
    line = one_clean_line(nonsense.stderr)
    assert line.startswith("campaigns: Invalid request (422): closes_at: "), line
    assert line.count("closes_at") == 1, line
    unknown = await campaigns(stack, key, "show", "no-such-campaign")
    assert one_clean_line(unknown.stderr) == (
        "campaigns: Not found (404): campaign no-such-campaign not found"
    )
