"""The status page (GET /status, POST /status/confirm) over the real supervisor, ops server and runtime on the
in-memory ports: what an admin reads there (R-LIM-1), confirming held deletions (R-DEL-10), and who may
read and confirm (R-SEC-3). tests/e2e/test_status_page_browser.py drives the same page in Chromium."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import lxml.html
import pytest

from bridge.config import Config
from bridge.ops.status_page import BridgeStatus, Latency, StatusPage, UserStatus
from bridge.ports import StoredIssue
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import BridgeSettings
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.supervisor import Supervisor
from bridge.store.memory import MemoryStore

TOKEN = "status-page-token-0123456789abcdef"
ANN, BOB, CAROL = "005000000000ANN", "005000000000BOB", "005000000000CAR"
FAST = BridgeSettings(
    flush_s=0.02, reconcile_every_s=0, actor=ActorSettings(idle_s=0.2, first_backoff_s=0.01)
)


def soon(hours: int = 2, length: timedelta = timedelta(minutes=30)) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(hours=hours)
    return start, start + length


@dataclass
class Running:
    supervisor: Supervisor
    sf: MemorySalesforce
    ex: MemoryMailbox
    store: MemoryStore
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        assert self.supervisor.ops is not None
        return str(self.supervisor.ops.url)

    async def idle(self) -> None:
        assert self.supervisor.bridge is not None
        await self.supervisor.bridge.wait_idle()

    async def page(self, path: str = "/status", **headers: str) -> tuple[int, lxml.html.HtmlElement, str]:
        async with self.http.get(path, headers=headers or basic(TOKEN)) as answer:
            text = await answer.text()
            return answer.status, lxml.html.fromstring(text), text

    async def confirm(self, user: str, token: str, **headers: str) -> tuple[int, str, str]:
        async with self.http.post(
            "/status/confirm", data={"user": user, "token": token}, headers=headers, allow_redirects=False
        ) as answer:
            return answer.status, answer.headers.get("Location", ""), await answer.text()

    async def hold_deletions(self, mailbox: str = "ann@corp.example") -> None:
        """Twelve items synced, then all deleted in Exchange at once: the deletions are held (R-DEL-10)."""
        items = [self.ex.put_item(mailbox, f"Standup {n}", *soon(n + 2)) for n in range(12)]
        await self.idle()
        assert len(self.sf.events) == 12
        for item_id in items:
            self.ex.remove_item(mailbox, item_id)
        await self.idle()
        assert len(self.sf.events) == 12, "the guard let a mass deletion through"


def basic(token: str, user: str = "admin") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


@asynccontextmanager
async def running(token: str | None = TOKEN) -> AsyncIterator[Running]:
    ops: dict[str, object] = {"host": "127.0.0.1", "port": 0}
    if token is not None:
        ops["token"] = token
    config = Config(
        salesforce={"instance_url": "https://org.example.test", "client_id": "calbridge"},
        exchange={"ews_url": "https://mail.example.test/EWS/Exchange.asmx"},
        ops=ops,
        users=[
            {"email": "ann@corp.example", "salesforce_user_id": ANN},
            {"email": "bob@corp.example", "salesforce_user_id": BOB},
            {"email": "carol@corp.example", "salesforce_user_id": CAROL, "enabled": False},
        ],
    )
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    supervisor = Supervisor(config, salesforce=sf, exchange=ex, store=store, settings=FAST)
    await supervisor.start()
    try:
        async with aiohttp.ClientSession(supervisor.ops.url) as http:
            world = Running(supervisor, sf, ex, store, http)
            await world.idle()
            yield world
    finally:
        await supervisor.stop()


def cells(root: lxml.html.HtmlElement, table: str, user: str) -> list[str]:
    row = root.xpath(f'//table[@id="{table}"]//tr[@data-user="{user}"]')
    assert row, f"no row for {user} in #{table}"
    return [cell.text_content().strip() for cell in row[0].xpath("./td")]


# ------------------------------------------------------------------------------------------ what it shows


async def test_r_lim_1_the_page_shows_users_last_sync_each_way_latency_and_open_issues() -> None:
    async with running() as world:
        world.ex.put_item("ann@corp.example", "Planning", *soon())
        world.ex.put_item("ann@corp.example", "Offsite", *soon(3, timedelta(days=20)))  # E-TOO-LONG
        await world.idle()
        status, root, _ = await world.page()
    assert status == 200
    ann, bob, carol = (cells(root, "users", u) for u in (ANN, BOB, CAROL))
    # Planning went to Salesforce, and its pairing fields and category to Exchange.
    assert ann[:3] == [ANN, "ann@corp.example", "yes"]
    assert all(when.endswith(" s ago)") for when in ann[3:5]), ann
    assert ann[5] == "1"
    assert bob[2:6] == ["yes", "never", "never", "0"]
    assert carol[2] == "switched off"
    rows = root.xpath('//*[@id="issues"]//tbody/tr')
    issues = [[c.text_content().strip() for c in row.xpath("./td")] for row in rows]
    assert [(i[0], i[1]) for i in issues] == [(ANN, "E-TOO-LONG")]
    assert "14 days" in issues[0][4]
    directions = [r.xpath("./td")[0].text_content() for r in root.xpath('//*[@id="latency"]//tbody/tr')]
    assert directions == ["to exchange", "to salesforce"]
    assert root.xpath('//*[@id="held-none"]'), "a held deletion shows where none is held"


def test_r_lim_1_every_value_on_the_page_is_escaped() -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    seen = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    held = StoredIssue(ANN, "E-MASS-DELETE", None, None, hostile, seen, seen)
    status = BridgeStatus(
        checks={hostile: True},
        users=[UserStatus(ANN, hostile + "@corp.example", True, seen, None, 1, held)],
        latency=[Latency(hostile, 0, None, None)],
        issues=[StoredIssue(hostile, hostile, hostile, hostile, hostile, seen, seen)],
    )
    text = StatusPage(source=None, token=TOKEN).render(status, hostile, error=True)  # type: ignore[arg-type]
    root = lxml.html.fromstring(text)
    assert not root.xpath("//script") and not root.xpath("//img")
    assert root.text_content().count('<script>alert("x")</script>') >= 8  # shown as text, every time
    assert TOKEN not in text


# ----------------------------------------------------------------------------- confirming held deletions


async def test_r_del_10_confirm_on_the_page_carries_out_the_held_deletions() -> None:
    async with running() as world:
        await world.hold_deletions()
        status, root, text = await world.page()
        assert status == 200 and TOKEN not in text
        held = cells(root, "held", ANN)
        assert "deletions planned" in held[2]
        form = root.xpath(f'//table[@id="held"]//tr[@data-user="{ANN}"]//form')[0]
        assert form.get("method") == "post" and form.get("action") == "/status/confirm"
        assert form.xpath('.//input[@type="password"][@name="token"]')

        answer, _, body = await world.confirm(ANN, "not-the-token")
        assert answer == 403 and "not right" in body
        assert len(world.sf.events) == 12  # still held

        answer, location, _ = await world.confirm(ANN, TOKEN)
        assert (answer, location) == (303, f"/status?confirmed={ANN}")
        assert world.sf.events == {}  # the deletions went through before the answer
        status, root, _ = await world.page(location)
        assert f"held deletions of {ANN} were carried out" in root.xpath('//*[@id="message"]')[0].text
        assert root.xpath('//*[@id="held-none"]')
        assert "E-MASS-DELETE" not in [c.text for c in root.xpath('//*[@id="issues"]//td[@class="code"]')]


async def test_r_del_10_confirm_is_refused_when_nothing_is_held_or_the_user_is_unknown() -> None:
    async with running() as world:
        answer, _, body = await world.confirm(ANN, TOKEN)
        assert answer == 409 and "No deletions are held" in body
        answer, _, body = await world.confirm("nobody@corp.example", TOKEN)
        assert answer == 404 and "No enrolled user nobody@corp.example" in body


async def test_r_sec_3_confirm_from_another_site_is_refused_even_with_the_token() -> None:
    async with running() as world:
        await world.hold_deletions()
        answer, _, _ = await world.confirm(ANN, TOKEN, Origin="http://attacker.example")
        assert answer == 403
        answer, _, _ = await world.confirm(ANN, TOKEN, **{"Sec-Fetch-Site": "cross-site"})
        assert answer == 403
        answer, _, _ = await world.confirm(ANN, TOKEN, Origin="null")  # a sandboxed frame, a data: page
        assert answer == 403
        assert len(world.sf.events) == 12
        # A client that is not a browser may send the token as a Bearer header instead.
        answer, _, _ = await world.confirm(ANN, "", Authorization=f"Bearer {TOKEN}")
        assert answer == 303 and world.sf.events == {}


async def test_r_sec_3_without_an_ops_token_the_page_reads_but_cannot_confirm() -> None:
    async with running(token=None) as world:
        await world.hold_deletions()
        status, root, _ = await world.page(Accept="text/html")
        assert status == 200
        assert not root.xpath('//*[@id="held"]//form'), "a confirm form without a token to check"
        assert "Set an ops token" in root.xpath('//*[@id="held"]')[0].text_content()
        answer, _, body = await world.confirm(ANN, "anything")
        assert answer == 403 and "needs an ops token" in body
        assert len(world.sf.events) == 12


# ------------------------------------------------------------------------------------------- reading it


async def test_r_sec_3_reading_the_page_needs_the_token_as_bearer_or_basic_password() -> None:
    async with running() as world:
        async with world.http.get("/status") as answer:
            assert answer.status == 401
            challenges = answer.headers.getall("WWW-Authenticate")
            assert any(c.startswith("Basic ") for c in challenges)  # so a browser asks for it
        status, _, _ = await world.page(**basic("wrong"))
        assert status == 401
        for headers in (basic(TOKEN, "anyone"), {"Authorization": f"Bearer {TOKEN}"}):
            status, _, _ = await world.page(**headers)
            assert status == 200
        async with world.http.get("/status", headers=basic(TOKEN)) as answer:
            for name in ("Content-Security-Policy", "X-Frame-Options", "Cache-Control"):
                assert name in answer.headers
            assert "script-src" not in answer.headers["Content-Security-Policy"]  # default-src 'none'
        # Basic credentials, which a browser re-sends by itself, never authorise a change.
        async with world.http.post(f"/sync-now?user={ANN}", headers=basic(TOKEN)) as answer:
            assert answer.status == 401


@pytest.mark.parametrize("header", ["Basic !!!not-base64", "Basic " + base64.b64encode(b"\xff\xfe").decode()])
async def test_r_sec_3_malformed_basic_credentials_are_refused_not_a_crash(header: str) -> None:
    async with running() as world:
        status, _, _ = await world.page(Authorization=header)
        assert status == 401
