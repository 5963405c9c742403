"""Signing in to the admin through its real login page, and the page's own assets."""

import re

from playwright.sync_api import expect

from .conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD


def test_the_admin_is_served_with_its_stylesheets(page):
    # live_server serves static files through staticfiles' handler (and whitenoise finds them
    # too): the admin must look like the admin, not unstyled HTML.
    page.goto("/admin/login/")

    stylesheet = page.request.get("/static/admin/css/base.css")
    assert stylesheet.status == 200 and stylesheet.headers["content-type"].startswith("text/css")
    # A rule from base.css applied: the header is the admin's dark bar, not the default white.
    assert page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_an_operator_logs_in_through_the_login_page(page, operator):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))

    page.locator("#id_username").fill(OPERATOR_EMAIL)
    page.locator("#id_password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errornote")).to_contain_text("Please enter the correct email and password")

    page.locator("#id_password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#user-tools")).to_contain_text(OPERATOR_EMAIL)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_page_that_reaches_past_the_service_is_caught(page, page_problems):
    # The guard every browser test runs under (the console must work offline): a script from a
    # CDN and a broken stylesheet of the service's own are both reported, and nothing leaves.
    page.goto("/admin/login/")
    page.set_content(
        '<script src="https://cdn.example.com/chart.js"></script><link rel="stylesheet" href="/static/missing.css">'
    )

    assert sorted(page_problems.found) == [
        f"asset {page_problems.origin}/static/missing.css: 404",
        "request outside the service: https://cdn.example.com/chart.js",
    ]
    page_problems.found.clear()
