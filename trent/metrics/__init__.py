"""Prometheus metrics: what each worker counts on the request path, and ``GET /metrics``.

Import this package only after ``PROMETHEUS_MULTIPROC_DIR`` is set (``trent serve`` sets it):
prometheus_client picks its value store when first imported, and in multiprocess mode every
worker's counts land in files there, which a scrape of any worker adds up.
"""

from trent.metrics.endpoint import MetricsRoute, StoreCollector, parse_networks
from trent.metrics.recorder import Metrics, TimedAuditLog

__all__ = ["Metrics", "MetricsRoute", "StoreCollector", "TimedAuditLog", "parse_networks"]
