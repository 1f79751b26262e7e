"""The status page in a real browser: Debian's Chromium, headless, driven by Selenium through Debian's
ChromeDriver, against `calbridge run` over the sandbox with an ops token (R-SEC-3).

An admin opens /status (the ops token as the Basic password, which is what the browser's prompt sends),
sees every user and the open issues, and confirms a held mass deletion (R-DEL-10) by typing the ops token
into the page's form. `make browser` (run by `make test`) installs chromium and chromium-driver with apt-get;
without them this module skips and says so. The page shows the store whichever provider filled it; the held
mass deletion does not (the deletions are read through EWS or through Graph), so it runs over both
(R-GRAPH-1).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import SalesforceDesk, wait_until
from bridge.sandbox.runner import running_sandbox

from .conftest import GRAPH_POLLING, World, use_graph
from .helpers import paired_with

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
SYNC = "Salesforce"
PROVIDERS = ("ews", "graph")


def _browser_missing() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not installed: run `make browser` "
            "(apt-get install -y chromium chromium-driver, as root)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: run `make setup` (it is in the dev extras)"
    return None


@pytest.fixture(scope="module")
def token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, token: str
) -> Iterator[World]:
    """The sandbox and `calbridge run` with an ops token (from an owner-only file) on loopback."""
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    provider = request.param
    root = tmp_path_factory.mktemp(f"e2e-status-page-{provider}")
    with running_sandbox(root / "sandbox") as sandbox:
        config = sandbox.write_bridge_config(root / "bridge")
        if provider == "graph":
            use_graph(config, sandbox.endpoints()["graph"], GRAPH_POLLING)
        token_file = config.with_name("ops-token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        text = config.read_text()
        config.write_text(text.replace("[ops]\n", f'[ops]\ntoken_file = "{token_file}"\n', 1))
        endpoints = sandbox.endpoints()
        bridge = BridgeProcess(config).start()
        world = World(sandbox, endpoints, SalesforceDesk(endpoints), bridge, root, provider)
        try:
            yield world
        finally:
            code = world.bridge.stop()
            assert code == 0, f"calbridge run exited with {code}:\n{world.bridge.tail()}"
            assert token not in Path(world.bridge.log).read_text(errors="replace"), "the ops token was logged"


@pytest.fixture(scope="module")
def browser(world: World, token: str) -> Iterator[Any]:
    """Headless Chromium sending the ops token as Basic credentials, as after the browser's prompt."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        basic = base64.b64encode(f"admin:{token}".encode()).decode()
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {basic}"}}
        )
        yield driver
    finally:
        driver.quit()


def open_page(world: World, driver: Any) -> Any:
    driver.get(world.bridge.ops_url + "/status")
    assert driver.title == "calbridge status", driver.page_source[:500]
    return driver


def row(driver: Any, table: str, user: str) -> list[str] | None:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'#{table} tr[data-user="{user}"] td')
    return [cell.text for cell in found] or None


def message(driver: Any) -> str:
    """The page's message line, or "" while the next page has not loaded."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.ID, "message").text)
    except WebDriverException:
        return ""


def issue_codes(driver: Any) -> list[tuple[str, str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#issues tbody tr")
    return [tuple(c.text for c in r.find_elements(By.TAG_NAME, "td")[:2]) for r in rows]  # type: ignore[misc]


@pytest.mark.providers(
    "ews", reason="the page shows the store, whichever provider filled it; Graph issues: test_ops_and_cli"
)
def test_r_lim_1_the_page_in_chromium_shows_every_user_and_an_open_issue(world: World, browser: Any) -> None:
    user_id, _ = world.user(0)
    start, _ = world.slot()
    world.outlook(0).book("Status page offsite", start, start + timedelta(days=20))  # E-TOO-LONG

    def shown() -> bool:
        open_page(world, browser)
        return (user_id, "E-TOO-LONG") in issue_codes(browser)

    wait_until(shown, timeout=30, every=0.5)
    for index, _user in enumerate(world.endpoints["users"]):
        uid, address = world.user(index)
        cells = row(browser, "users", uid)
        assert cells is not None and cells[:3] == [uid, address, "yes"], cells
    first = row(browser, "users", user_id)
    assert first is not None and int(first[5]) >= 1  # open issues


def test_r_del_10_a_held_mass_deletion_is_confirmed_from_the_page_in_chromium(
    world: World, browser: Any, token: str
) -> None:
    from selenium.webdriver.common.by import By

    owner, _ = world.user(2)
    outlook = world.outlook(2)
    start, _ = world.slot()
    paired = world.desk.query(
        "SELECT Id FROM Event WHERE OwnerId = {} AND Exchange_Item_Id__c != null AND IsChild = false", owner
    )
    count = max(11, len(paired) + 2)  # more than 10 and more than half of the user's pairs
    items = [
        outlook.book(
            f"Status mass {n:02d}", start + timedelta(minutes=30 * n), start + timedelta(minutes=30 * n + 20)
        )
        for n in range(count)
    ]
    wait_until(lambda: all(SYNC in (outlook.by_id(i.id).categories or []) for i in items), timeout=30)
    events = [str(paired_with(world, i.id)[0]["Id"]) for i in items]
    outlook.account.bulk_delete(ids=[(i.id, i.changekey) for i in (outlook.by_id(i.id) for i in items)])

    wait_until(lambda: row(open_page(world, browser), "held", owner), timeout=30, every=0.5)
    assert token not in browser.page_source
    synced_cells = row(browser, "users", owner)
    assert synced_cells is not None and "never" not in synced_cells[3:5], synced_cells  # each way
    assert (owner, "E-MASS-DELETE") in issue_codes(browser)
    assert all(world.desk.event(e) is not None for e in events), "a held deletion went through"

    def confirm_with(typed: str) -> None:
        form = browser.find_element(By.CSS_SELECTOR, f'#held tr[data-user="{owner}"] form')
        form.find_element(By.NAME, "token").send_keys(typed)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    confirm_with(token[::-1])
    wait_until(lambda: "not right" in message(browser))
    assert all(world.desk.event(e) is not None for e in events), "a wrong token released the deletions"

    confirm_with(token)  # the answer comes once the confirmed pass is committed
    wait_until(lambda: "were carried out" in message(browser), timeout=60)
    assert browser.current_url.endswith(f"/status?confirmed={owner}")
    wait_until(lambda: all(world.desk.event(e) is None for e in events), timeout=30)
    open_page(world, browser)
    assert browser.find_elements(By.ID, "held-none")
    assert (owner, "E-MASS-DELETE") not in issue_codes(browser)
