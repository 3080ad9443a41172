"""A local API Gateway for WebSocket APIs: the whole loop on one machine, no AWS account.

It emulates three faces of API Gateway on one port:

* the ``apigatewayv2`` control plane (boto3 with ``endpoint_url``),
* the data plane: clients on ``ws://HOST:PORT/<api_id>/<stage>``, each event
  forwarded to its HTTP integration,
* the management API: ``apigatewaymanagementapi`` with
  ``endpoint_url=http://HOST:PORT/<api_id>/<stage>``.

See ``docs/local_development.md``.
"""

from __future__ import annotations

from wsapp.localgateway.faults import Faults
from wsapp.localgateway.forwarding import FORWARDED_HEADERS
from wsapp.localgateway.limits import Limits
from wsapp.localgateway.server import GatewayThread, LocalGateway, run_in_thread, serve
from wsapp.localgateway.state import StateFileError

__all__ = [
    "FORWARDED_HEADERS",
    "Faults",
    "GatewayThread",
    "Limits",
    "LocalGateway",
    "StateFileError",
    "run_in_thread",
    "serve",
]
