"""Reading the metrics endpoint (bot/obs/metrics.py) as Prometheus would."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10
        ) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def metrics_of(url: str) -> Samples:
    status, text = scrape(url)
    assert status == 200, (status, text)
    return parse(text)


def in_process() -> Samples:
    """This (test) process's own metrics, as the in-process bots record them."""
    return parse(generate_latest(REGISTRY).decode())


def moved(before: Samples, name: str, **labels: str) -> float:
    """How much metric `name` moved in this process since `before` (`in_process()`)."""
    return value(in_process(), name, **labels) - value(before, name, **labels)
