"""Scraping a Prometheus endpoint over HTTP and reading one sample from what it served; a
free port to serve one on."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str  # as the parser names it: a counter's sample always ends in ``_total``
    family: str  # the name a counter or gauge has on the wire when it lacks ``_total``
    kind: str
    labels: dict[str, str]
    value: float

    def named(self, name: str) -> bool:
        return self.name == name or (self.family == name and self.kind in ("counter", "gauge"))


async def scrape(url: str) -> list[Sample]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        Sample(sample.name, family.name, family.type, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def value_of(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum over the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(
        s.value
        for s in samples
        if s.named(name) and all(s.labels.get(k) == v for k, v in labels.items())
    )


def label_values(samples: list[Sample], name: str, label: str) -> set[str]:
    return {s.labels[label] for s in samples if s.named(name) and label in s.labels}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
