"""`list`, `show`, `status` and `watch` in an 80x24 terminal (a real pty, the real command,
the API over HTTP): every campaign ID whole, the progress bars there, no line over 80."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from cli.render import MIN_BAR_WIDTH
from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner
from tests.api.conftest import stack as stack
from tests.api.test_campaign_messages import wait_for_status
from tests.cli.pty_terminal import PtyRun, widest

COLUMNS = 80
BAR_ROW = re.compile(r"^(time|budget|payouts)\s+([━─]+)")


def campaigns_in_pty(stack: Stack, key: str, tmp_path: Path, *args: str) -> PtyRun:
    return PtyRun([*args, "--api-url", stack.url, "--api-key", key], cwd=tmp_path, columns=COLUMNS)


async def finished(run: PtyRun) -> list[str]:
    code = await asyncio.to_thread(run.wait, 60)
    lines = run.lines()
    assert code == 0, "\n".join(lines)
    return lines


def fits(lines: list[str]) -> None:
    assert widest(lines) <= COLUMNS, "\n".join(line for line in lines if len(line) > COLUMNS)
    assert not any("…" in line for line in lines), "\n".join(lines)


async def test_list_and_show_keep_ids_whole_at_80_columns(stack: Stack, tmp_path: Path) -> None:
    owner_id, key = await new_owner(stack)
    ids = []
    async with stack.client(key) as owner:
        for n in range(3):
            body = {
                **CAMPAIGN_BODY,
                "name": f"Launch week number {n} with a name longer than its column",
                "budget": 1_000_000_000 * (n + 1),
            }
            created = await owner.post("/v1/campaigns", json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

    listed = await finished(campaigns_in_pty(stack, key, tmp_path, "list"))
    fits(listed)
    for campaign_id in ids:
        assert any(campaign_id in line for line in listed), (campaign_id, listed)
    assert any("3,000,000,000" in line for line in listed)

    shown = await finished(campaigns_in_pty(stack, key, tmp_path, "show", ids[0]))
    fits(shown)
    assert any(ids[0] in line for line in shown)
    assert any(owner_id in line for line in shown)
    assert any(f"campaign-{ids[0]}" in line for line in shown)


async def test_watch_draws_its_bars_and_the_whole_id_at_80_columns(
    stack: Stack, tmp_path: Path
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = (await owner.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
        campaign_id, path = draft["id"], f"/v1/campaigns/{draft['id']}"
        assert (await owner.post(f"{path}/publish")).status_code == 202
        await wait_for_status(owner, path, "running")

        watching = campaigns_in_pty(stack, key, tmp_path, "watch", campaign_id)

        async def running_frame_drawn() -> None:
            lines = watching.lines()
            headline = [
                n for n, line in enumerate(lines) if line.startswith(f"{campaign_id}  running")
            ]
            assert headline, lines
            frame = lines[headline[-1] + 1 : headline[-1] + 4]
            rows = {m.group(1): m.group(2) for m in map(BAR_ROW.match, frame) if m}
            assert sorted(rows) == ["budget", "payouts", "time"], frame
            assert all(len(bar) >= MIN_BAR_WIDTH for bar in rows.values()), rows

        await eventually(running_frame_drawn, timeout=30)
        assert (await owner.post(f"{path}/cancel")).status_code == 202
        lines = await finished(watching)

    fits(lines)
    assert any(line.startswith(f"{campaign_id}  closed") for line in lines), lines
    assert f"campaign {campaign_id} ended closed" in lines
    status = await finished(campaigns_in_pty(stack, key, tmp_path, "status", campaign_id))
    fits(status)
    assert any(campaign_id in line for line in status)
