"""The Salesforce adapter (`bridge.ports.SalesforcePort`): REST through simple-salesforce in threads, Pub/Sub
through grpc.aio with the project's proto, one OAuth token for both."""

from bridge.salesforce.adapter import SalesforceAdapter, open_salesforce
from bridge.salesforce.connection import SalesforceConnection

__all__ = ["SalesforceAdapter", "SalesforceConnection", "open_salesforce"]
