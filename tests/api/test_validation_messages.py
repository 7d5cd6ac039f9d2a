"""What a 422 says, over real HTTP: malformed JSON says where it breaks, a field is named once by
its dotted path, a validator's own sentence is the reason, and no exception class leaks."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.api.conftest import CAMPAIGN_BODY, Stack, new_owner
from tests.api.conftest import stack as stack

# What a refusal built from str(exception) or pydantic's repr would carry.
LEAKED_CLASS = re.compile(r"[A-Za-z]*(Error|Exception)\b|Value error,|validation errors? for")


async def refused(stack: Stack, content: str | bytes) -> dict[str, Any]:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        response = await owner.post(
            "/v1/campaigns", content=content, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert not LEAKED_CLASS.search(response.text), problem
    return problem


def body(**changes: Any) -> str:
    return json.dumps({**CAMPAIGN_BODY, **changes})


async def test_malformed_json_says_where_it_breaks_not_a_char_offset(stack: Stack) -> None:
    cut_short = await refused(stack, '{"name": "Launch week",')
    assert cut_short["detail"] == (
        "the body is not valid JSON: expecting property name enclosed in double quotes "
        "at line 1 column 24"
    )
    assert cut_short["errors"] == [{"field": "body", "message": cut_short["detail"]}]
    multi_line = await refused(stack, '{\n  "name": "x",\n  "budget": \n}')
    assert multi_line["detail"] == "the body is not valid JSON: expecting value at line 4 column 1"
    assert all(not e["field"].isdigit() for e in multi_line["errors"])


async def test_a_body_that_is_not_an_object_or_is_missing_says_so(stack: Stack) -> None:
    not_an_object = "the body must be a JSON object, sent as application/json"
    assert (await refused(stack, "[1, 2]"))["detail"] == not_an_object
    assert (await refused(stack, "null"))["detail"] == not_an_object
    assert (await refused(stack, b""))["detail"] == "the body is missing: send a JSON object"


async def test_wrong_types_and_nested_fields_are_named_once_by_dotted_path(stack: Stack) -> None:
    problem = await refused(
        stack,
        body(
            budget="lots",
            # A field named like a location ("query", "body") is still named by its path.
            rewards={"like": "ten", "bonus": 5, "query": 1},
            first_post={"text": "hi", "media": [{"media_type": "image/png"}]},
        ),
    )
    fields = [e["field"] for e in problem["errors"]]
    assert sorted(fields) == [
        "budget",
        "first_post.media.0.url",
        "rewards.bonus",
        "rewards.like",
        "rewards.query",
    ]
    assert "rewards.bonus: not a field this body takes" in problem["detail"]
    assert "first_post.media.0.url: required" in problem["detail"]
    assert re.search(r"\bbudget: Input should be a valid integer\b", problem["detail"])
    for field in fields:
        assert problem["detail"].count(f"{field}:") == 1, (field, problem["detail"])


async def test_a_validators_refusal_is_its_own_sentence_and_names_its_field(stack: Stack) -> None:
    no_rewards = await refused(stack, body(rewards=None))
    assert no_rewards["detail"] == "an awareness campaign needs rewards"
    assert no_rewards["errors"] == [
        {"field": "rewards", "message": "an awareness campaign needs rewards"}
    ]
    too_small = await refused(stack, body(budget=5, rewards={"like": 10}))
    assert too_small["detail"] == "budget does not cover a single reward (the smallest is 10)"
    assert [e["field"] for e in too_small["errors"]] == ["budget"]
    slow = await refused(stack, body(poll_interval_seconds=7200))
    assert slow["detail"] == ("poll_interval_seconds (7200) is longer than duration_seconds (3600)")
    quest = await refused(
        stack,
        body(type="quest", rewards=None, quest={"answer": "42", "winners": 3}, budget=2),
    )
    assert quest["detail"] == "budget does not cover one unit for each of 3 winners"
