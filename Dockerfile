# The campaigns image: one install, every part (`campaigns worker|api|sandbox|migrate`).
# Built by docker-compose.temporal.yml; configured only by CAMPAIGNS_* environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CAMPAIGNS_LOG_FORMAT=json \
    CAMPAIGNS_STATE_DIR=/var/lib/campaigns

WORKDIR /app

# Only what the package needs (the build context also holds .venv, tests and local state).
COPY pyproject.toml README.md worker.py ./
COPY core ./core
COPY clients ./clients
COPY sandbox ./sandbox
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY migrations ./migrations
COPY contracts ./contracts

RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/campaigns --create-home campaigns

USER campaigns
WORKDIR /var/lib/campaigns

CMD ["campaigns", "--help"]
