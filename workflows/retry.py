"""Named retry policies and timeouts for the campaign's activities.

Every activity call names one of these, so a reader sees how hard a step tries before the
campaign compensates. Rate limits do not spend the backoff: the activity raises with
``next_retry_delay`` set to the platform's reset time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Our own database: transient trouble only (a lock, a restart); keep trying for a while.
DATABASE = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=20,
)
DATABASE_TIMEOUT = timedelta(seconds=30)

# Writes to X or the ledger: keyed (or looked up) so repeats are safe; 5xx and lost
# responses retry, 4xx do not (non-retryable by error type).
EXTERNAL_WRITE = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=12,
    non_retryable_error_types=["PermanentError", "DuplicateContent", "InsufficientFunds"],
)
POST_TIMEOUT = timedelta(seconds=60)
# Media upload waits for the platform to process it, heartbeating while it waits.
MEDIA_POST_TIMEOUT = timedelta(minutes=10)
MEDIA_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
LEDGER_TIMEOUT = timedelta(seconds=30)

# Reads of engagement while running: a poll that keeps failing is noted and the next one
# catches up; a refusal (ReadRefused: 401, 403) holds the campaign in ``attention``.
EXTERNAL_READ = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["PermanentError", "ReadRefused", "NotFound"],
)
POLL_TIMEOUT = timedelta(minutes=2)
# The poll heartbeats between its reads: a worker killed mid-poll is noticed in seconds, not
# at the end of POLL_TIMEOUT (a close waited two minutes for it in the chaos run).
POLL_HEARTBEAT_TIMEOUT = timedelta(seconds=20)

# Compensation must not give up easily: it is what leaves nothing locked.
COMPENSATION = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=30,
    non_retryable_error_types=["PermanentError"],
)

REWARD_TABLE_TIMEOUT = timedelta(minutes=5)
REWARD_TABLE_HEARTBEAT_TIMEOUT = timedelta(seconds=20)

# The final fetch at close: no reward may be lost to a failed read, so it waits out rate
# limits and outages for as long as they last; a refusal (401, 403) holds the campaign in
# ``attention`` instead, until an operator resumes it.
FINAL_READ = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=["PermanentError", "ReadRefused", "NotFound"],
)
