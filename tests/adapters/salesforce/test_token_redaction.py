"""R-SEC-1: an access token the adapter obtains is a secret the log redactor knows from then on."""

from __future__ import annotations

from bridge.logs import REDACTED, redact
from bridge.salesforce import SalesforceAdapter


async def test_r_sec_1_an_access_token_fetched_is_cut_out_of_every_later_log_line(
    salesforce: SalesforceAdapter,
) -> None:
    token = await salesforce.tokens.current()
    assert redact(f"grpc metadata accesstoken={token}") == f"grpc metadata accesstoken={REDACTED}"
