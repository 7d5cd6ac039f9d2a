"""Secrets never reach the log: configured values, owners' tokens, and anything shaped like a
key, in fields, messages and tracebacks; nor through the stdlib's dump of a line it could not
write."""

from __future__ import annotations

import io
import logging
import uuid

import pytest

from core.config import Settings
from core.logging import configure_logging, get_logger, redact, register_secret
from tests.core.test_logging import log_a_retry_and_a_bug


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_secrets_are_masked_in_fields_messages_and_tracebacks(
    log_output: io.StringIO, log_format: str
) -> None:
    operator_key = "op-" + uuid.uuid4().hex
    configure_logging(
        Settings(
            log_format=log_format, operator_api_key=operator_key, ledger_api_key="lk-" + "7" * 20
        ),
        stream=log_output,
    )
    owner_x_token = "owner-x-" + uuid.uuid4().hex
    register_secret(owner_x_token)
    private_key = "0x" + "ab" * 32
    owner_key = "ck_" + "Zq-9_" * 8
    stranger_bearer = "never-registered-" + uuid.uuid4().hex
    log = get_logger("campaigns.test")
    log.info(f"operator {operator_key} acts", token=owner_x_token, key=private_key)
    log.warning("rejected", headers={"Authorization": f"Bearer {stranger_bearer}"})
    log.info("owner key", given=owner_key, ledger="lk-" + "7" * 20)
    logging.getLogger("httpx").error("Authorization: Basic dXNlcjpwYXNz sent")
    log_a_retry_and_a_bug(owner_x_token)

    text = log_output.getvalue()
    for secret in (
        operator_key,
        owner_x_token,
        private_key,
        owner_key,
        stranger_bearer,
        "lk-" + "7" * 20,
        "dXNlcjpwYXNz",
    ):
        assert secret not in text, secret
    assert "***" in text and "ck_***" in text


class Unprintable:
    def __repr__(self) -> str:
        raise ValueError("no repr")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_line_that_cannot_be_rendered_does_not_print_its_raw_message(
    log_output: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
) -> None:
    configure_logging(Settings(log_format=log_format), stream=log_output)
    # Only our handler, as in a process (pytest's capturing handler re-raises the error).
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if h.get_name() == "campaigns"])
    owner_key = "ck_" + uuid.uuid4().hex
    logging.getLogger("some.library").warning("acting for %s: %r", owner_key, Unprintable())
    get_logger("campaigns.test").warning(f"acting for {owner_key}", value=Unprintable())

    written = log_output.getvalue() + "".join(capsys.readouterr())
    assert owner_key not in written
    assert "could not be written: ValueError" in written


def test_a_closed_stream_does_not_print_the_raw_message_elsewhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=closed)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if h.get_name() == "campaigns"])
    closed.close()
    owner_key = "ck_" + uuid.uuid4().hex
    logging.getLogger("some.library").warning("acting for %s", owner_key)

    stderr = capsys.readouterr().err
    assert owner_key not in stderr
    assert "a log line from some.library could not be written: ValueError" in stderr


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Basic dXNlcjpwYXNz sent", "Authorization: *** sent"),
        ("{'authorization': 'Bearer owner-x-abc', 'n': 1}", "{'authorization': '***', 'n': 1}"),
        ('{"Authorization": "Bearer zz"} x', '{"Authorization": "***"} x'),
        ("sent Bearer abcdefgh123 to X", "sent Bearer *** to X"),
        ("key ck_Zq9_abcdefgh-1 revoked", "key ck_*** revoked"),
        ("signer 0x" + "aB" * 32 + " ready", "signer 0x*** ready"),
        # Words stay words: no credential follows.
        ("bearer token missing", "bearer token missing"),
        ("check_after_secs=5", "check_after_secs=5"),
        ("tx 0x" + "ab" * 31, "tx 0x" + "ab" * 31),
    ],
)
def test_secret_shapes_are_masked_and_nothing_around_them(text: str, masked: str) -> None:
    assert redact(text) == masked
