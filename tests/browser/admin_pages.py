"""Steps on Django admin pages that every browser test takes the same way."""

import re


def search(page, text):
    """Search the changelist for `text`, as an operator types it, and wait for the results."""
    page.locator("#searchbar").fill(text)
    with page.expect_navigation():
        page.locator("#searchbar").press("Enter")


def choose_action(page, starting_with):
    """Pick the changelist action whose label starts with `starting_with` ("Freeze" is not "Unfreeze")."""
    option = page.locator("select[name=action] option", has_text=re.compile(rf"^\s*{starting_with}", re.I))
    page.locator("select[name=action]").select_option(value=option.get_attribute("value"))


def submit(form_field):
    """Submit the form that holds `form_field` with its last button, and wait for the answer."""
    page = form_field.page
    with page.expect_navigation():
        form_field.locator("xpath=ancestor::form").locator("[type=submit]").last.click()
