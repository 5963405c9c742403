"""The admin home: the operator's dashboard with its charts, drawn on the server and served
offline (the page fixture fails any request that leaves the service)."""

from playwright.sync_api import expect

from tests.factories import transfer

DRAWN_BARS = "g.bar rect:not(.hit)"  # .hit is each hour's full-height hover target, not data


def bar_heights(chart):
    return chart.locator(DRAWN_BARS).evaluate_all("rects => rects.map(r => r.getBoundingClientRect().height)")


def test_the_dashboard_renders_its_charts(operator_page, scene):
    declined = transfer(scene.bob_account, scene.alice_account, "9999.00")  # Bob holds 250.50
    assert declined.status == "FAILED"
    page = operator_page
    page.goto("/admin/")

    # Customers hold 1000.00 INR in all (749.50 + 250.50), the funding account the opposite.
    inr = page.locator('tr[data-currency="INR"]')
    expect(inr).to_contain_text("1000.00 INR")
    expect(inr).to_contain_text("-1000.00 INR")
    expect(inr.locator('[data-balanced="yes"]')).to_contain_text("0.00 INR")

    for name in ("transfers-per-hour", "decline-rate-per-hour"):
        chart = page.locator(f'svg.chart[data-chart="{name}"]')
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box["width"] > 300 and box["height"] > 80, (name, box)
        # This hour's transfers (one completed, one declined) are drawn: bars of some height.
        assert any(height > 1 for height in bar_heights(chart)), name
