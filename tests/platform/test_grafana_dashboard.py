"""The Grafana dashboard in deploy/grafana/ speaks of the platform's metrics as they are: every
series it queries is one ``platform/observability/metrics.py`` exports, and every metric is on
it."""

from __future__ import annotations

import json
import re
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from journalloft.platform.observability import metrics
from support.platform import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "journalloft.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> dict[str, str]:
    """Each series name a scrape shows → the metric it belongs to."""
    series = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name, kind = value._name, str(value._type)
            for suffix in SUFFIXES[kind]:
                series[name + suffix] = name
    return series


def expressions(panels: list[dict[str, Any]]) -> list[str]:
    found = []
    for panel in panels:
        found += [target["expr"] for target in panel.get("targets", [])]
        found += expressions(panel.get("panels", []))
    return found


def test_the_dashboard_queries_only_exported_series_and_shows_every_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    series = exported()
    queried = {
        name
        for expr in expressions(dashboard["panels"])
        for name in re.findall(r"journalloft_[a-z_]+", expr)
    }
    assert queried, "no query names a metric"
    assert queried <= set(series), queried - set(series)
    assert {series[name] for name in queried} == set(series.values())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
