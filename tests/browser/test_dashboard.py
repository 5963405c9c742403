"""The admin home: the operator's dashboard with its charts, served offline."""

from playwright.sync_api import expect


def test_the_dashboard_renders_its_charts(operator_page, scene):
    page = operator_page
    page.goto("/admin/")

    # Customers hold 1000.00 INR in all (749.50 + 250.50); the funding account the opposite.
    content = page.locator("#content")
    expect(content).to_contain_text("1000.00 INR")
    expect(content).to_contain_text("-1000.00 INR")

    charts = page.locator("#content svg")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2  # volume and decline rate per hour
    for chart in charts.all():
        box = chart.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, box
    # This hour's transfer is drawn: a bar of some height.
    heights = page.locator("#content svg rect").evaluate_all(
        "rects => rects.map(r => r.getBoundingClientRect().height)"
    )
    assert any(height > 0 for height in heights), heights
