"""The connect flow in a real browser: headless Chromium (Debian's `chromium`) driven by
Selenium through Debian's `chromium-driver`, no browser download. It opens /connect,
clicks Allow (or Deny) on the workspace emulator's consent page, and lands on the
product's page: cookies, redirects and forms as a browser really handles them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.e2e.support import Env

CAROL = "carol@example.com"
CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"
TIMEOUT = 30


def _which(*names: str) -> str | None:
    return next((p for n in names if (p := shutil.which(n))), None)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: run `make setup` (it is a dev dependency)")
    binary, chromedriver = _which(*CHROMIUM), _which(DRIVER)
    if binary is None or chromedriver is None:
        pytest.fail(
            "headless Chromium is missing: install Debian's chromium and chromium-driver"
            " (apt-get install -y chromium chromium-driver; .ci/run does it as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.set_page_load_timeout(TIMEOUT)
    try:
        yield browser
    finally:
        browser.quit()


def _consent(driver: Any, env: Env) -> None:
    """Open /connect for carol: Chromium follows the redirect to the consent page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    env.emu("POST", "users", {"email": CAROL})
    driver.delete_all_cookies()
    url = f"{env.stack.function_urls['connect']}/connect?{urlencode({'login_hint': CAROL})}"
    driver.get(url)
    WebDriverWait(driver, TIMEOUT).until(ec.element_to_be_clickable((By.ID, "allow")))
    assert driver.find_element(By.ID, "account").get_attribute("data-email") == CAROL


def test_a_user_clicks_allow_and_lands_on_the_success_page(driver: Any, env: Env) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _consent(driver, env)
    driver.find_element(By.ID, "allow").click()
    connected = WebDriverWait(driver, TIMEOUT).until(
        ec.presence_of_element_located((By.ID, "connected"))
    )
    assert connected.get_attribute("data-email") == CAROL
    assert driver.current_url.startswith(env.stack.function_urls["connect"] + "/oauth/callback")
    user = env.store.get_user(CAROL)
    assert user is not None and (user.auth_mode, user.status) == ("refresh_token", "active")
    assert [c for c in env.emu("GET", "channels") if c["user"] == CAROL and not c["stopped"]]


def test_a_user_clicks_deny_and_sees_why_nothing_was_connected(driver: Any, env: Env) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _consent(driver, env)
    driver.find_element(By.ID, "deny").click()
    reason = WebDriverWait(driver, TIMEOUT).until(ec.presence_of_element_located((By.ID, "reason")))
    assert reason.text == "access_denied"
    assert "declined" in driver.find_element(By.ID, "error").text
    assert env.store.get_user(CAROL) is None
