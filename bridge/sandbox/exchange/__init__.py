"""A local Exchange Server 2016 speaking EWS over TLS, faithful enough for exchangelib's calendar use."""

from .server import ExchangeSandbox, running_exchange_sandbox
from .settings import SandboxTimings

__all__ = ["ExchangeSandbox", "SandboxTimings", "running_exchange_sandbox"]
