"""Headless Debian Chromium driven through Debian's chromedriver, for the deployment suite's browser test.

Nothing is downloaded: the driver and the browser are given by path, so Selenium Manager (which
would fetch a driver or a browser) never runs; the fixture also sets ``SE_OFFLINE`` in case it did.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = (
    "The browser test needs Debian's Chromium and its driver (/usr/bin/chromium, /usr/bin/chromedriver): "
    "apt-get install chromium chromium-driver (`make test` installs them as root)."
)
#: Headless, as root, and quiet: no sandbox (root), no GPU, and none of the browser's own traffic
#: (updates, sync, QUIC probes), which could only leave the loopback interface.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
#: A loaded 2-core machine renders Airflow's UI slowly; every wait is explicit and this long at most.
WAIT_SECONDS = 60


class NavigationTolerantWait(WebDriverWait):
    """A wait that tries its condition again when the page navigated away while it looked.

    Opening the UI's root redirects to the sign-in page; a look that lands during the redirect is
    answered "aborted by navigation", which says nothing about the condition.
    """

    def until(self, method: Any, message: str = "") -> Any:
        def tolerant(driver: Any) -> Any:
            try:
                return method(driver)
            except WebDriverException as error:
                if "aborted by navigation" in str(error):
                    return False
                raise

        return super().until(tolerant, message)


class Browser:
    """One Chromium session; :meth:`step` saves a screenshot and the page source when a step fails.

    :param artifacts: where the failure screenshots and page sources go.
    """

    def __init__(self, artifacts: Path) -> None:
        missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
        if missing:
            raise RuntimeError(f"{INSTALL_HINT} Missing: {', '.join(missing)}")
        self.artifacts = artifacts
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=artifacts)  # new and empty
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        service = Service(executable_path=str(CHROMEDRIVER), log_output=str(artifacts / "chromedriver.log"))
        self.driver: WebDriver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(WAIT_SECONDS)
        self.wait = NavigationTolerantWait(self.driver, WAIT_SECONDS)

    def click(self, by: str, value: str) -> WebElement:
        """Click an element once it takes the click: scrolled into view, and not covered while the UI animates."""

        def clicked(driver: WebDriver) -> WebElement | bool:
            element = driver.find_element(by, value)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
            try:
                element.click()
            except (ElementClickInterceptedException, ElementNotInteractableException, StaleElementReferenceException):
                return False
            return element

        return self.wait.until(clicked)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one step of a test; if it fails, keep what the browser showed as ``<name>.png``/``.html``."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.driver.save_screenshot(str(self.artifacts / f"{name}.png"))
                (self.artifacts / f"{name}.html").write_text(self.driver.page_source)
                print(
                    f"browser step {name!r} failed at {self.driver.current_url}: see {self.artifacts}/{name}.png "
                    "and .html (DATAOPS_DEPLOYMENT_KEEP=1 keeps them)"
                )
            raise

    def quit(self) -> None:
        self.driver.quit()
