"""The operator's console in a real browser: Debian's Chromium driven by Playwright against the
real Django (pytest-django's `live_server`, a thread of this process on the test database).

One browser for the whole package, a fresh context (cookies, storage, downloads) per test. A test
that fails leaves a screenshot and the page's HTML in test-artifacts/browser/ (gitignored); the
paths are printed in its report.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect, sync_playwright

from tests.factories import AccountFactory, SystemUserFactory, UserFactory, account_fund, transfer

# Debian's package (deploy/browser_tools.sh installs it); never a browser Playwright downloads.
CHROMIUM = Path("/usr/bin/chromium")
# As Chromium is run headless on this machine: no sandbox (root in a container), no GPU, and none
# of the background traffic (updates, sync, QUIC probes) that would reach past localhost.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
# Long enough for a page of the admin on a loaded two-core machine, short enough to fail fast.
TIMEOUT_MS = 10_000

OPERATOR_EMAIL = "operator@ledger.local"
OPERATOR_PASSWORD = "correct-horse-battery"  # tests.factories.PASSWORD: the factories' hash


@pytest.fixture(scope="package")
def browser():
    """Chromium for the whole package. While Playwright's sync API is started, its event loop
    counts as running in this thread, so Django's async-safety check would refuse every ORM call
    the tests make (factories, assertions: SynchronousOnlyOperation) although no coroutine ever
    touches the database. The check is lifted for exactly that span, and only here; the live
    server answers in a thread of its own and is never affected."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"{CHROMIUM} not found: `make test` installs Debian's chromium (deploy/browser_tools.sh) "
            "when run as root; install it with `apt-get install -y chromium` to run the browser tests"
        )
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # what is left there is this run's failures only
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        # Playwright gives each launch a fresh user-data-dir of its own in a temporary directory.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, downloads_path=tempfile.mkdtemp()
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageProblems:
    """What a page did wrong besides what a test asserts: requests that left localhost (the
    console must work offline), assets that did not load, and JavaScript errors."""

    def __init__(self, origin):
        self.origin = origin
        self.found = []

    def watch(self, context):
        context.route(re.compile(r".*"), self._route)
        context.on("response", self._response)
        context.on("weberror", lambda error: self.found.append(f"JavaScript error: {error.error}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.origin) or not urlsplit(url).scheme.startswith("http"):
            route.continue_()
        else:
            self.found.append(f"request outside the service: {url}")
            route.abort()

    def _response(self, response):
        if response.request.resource_type in {"stylesheet", "script", "image", "font"} and response.status >= 400:
            self.found.append(f"asset {response.url}: {response.status}")


@pytest.fixture
def page_problems(live_server):
    return PageProblems(live_server.url)


@pytest.fixture
def page(browser, live_server, page_problems):
    context = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 1440, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page_problems.watch(context)
    page = context.new_page()
    yield page
    context.close()
    assert not page_problems.found, page_problems.found


@pytest.fixture
def operator(transactional_db):
    """A staff superuser who is also a system user (only system users may reverse)."""
    return SystemUserFactory(email=OPERATOR_EMAIL, name="Olga Operator", is_staff=True, is_superuser=True)


@pytest.fixture
def operator_page(page, operator, live_server):
    """`page` with the operator's admin session. The login form itself is driven once, by
    test_login.py; the others start signed in, so django-axes counts no attempt for them."""
    client = Client()
    client.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return page


class Scene:
    """Two customers with INR accounts: Alice funded with 1000.00 who sent 250.50 to Bob."""

    def __init__(self):
        self.alice = UserFactory(email="alice.customer@example.com", name="Alice Customer")
        self.bob = UserFactory(email="bob.customer@example.com", name="Bob Customer")
        self.alice_account = AccountFactory(owner=self.alice)
        self.bob_account = AccountFactory(owner=self.bob)
        self.funding = account_fund(self.alice_account, "1000.00")
        self.payment = transfer(self.alice_account, self.bob_account, "250.50")
        assert self.payment.status == "COMPLETED", self.payment.failure_reason


@pytest.fixture
def scene(transactional_db):
    return Scene()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, keep what the browser showed: a PNG and the HTML, named after the test."""
    report = yield
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.failed and report.when in ("setup", "call") and page is not None and not page.is_closed():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = ARTIFACTS / re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1])
        try:
            page.screenshot(path=f"{stem}.png", full_page=True)
            Path(f"{stem}.html").write_text(page.content())
        except Exception as exc:  # the page may be the thing that broke; the report must still come
            report.sections.append(("browser artifacts", f"could not save them: {exc}"))
        else:
            report.sections.append(("browser artifacts", f"page at {page.url}\n{stem}.png\n{stem}.html"))
    return report
