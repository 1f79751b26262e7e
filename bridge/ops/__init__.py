"""What platform engineers watch: the ops HTTP server and its Prometheus metrics (docs/ops.md).

metrics = Metrics()
server = OpsServer.from_config(config, source, metrics)   # source: the runtime, an `OpsSource`
await server.start()
"""

from bridge.ops.metrics import Metrics, PrometheusSink
from bridge.ops.server import OpsServer, OpsSource, issue_json

__all__ = ["Metrics", "OpsServer", "OpsSource", "PrometheusSink", "issue_json"]
