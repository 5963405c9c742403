"""Bar charts as inline SVG geometry, computed on the server: no chart library, no script, nothing
fetched from elsewhere, so the admin's charts render offline and in any browser.

The template (admin/dashboard/bar_chart.svg) draws what bar_chart returns: rectangles stacked
from the baseline, each bar with a tooltip, a gridline at the top value, and labels on the time
axis every LABEL_EVERY bars.
"""

from dataclasses import dataclass

PLOT_HEIGHT = 120
BAR_PITCH = 10  # a bar and the gap after it
BAR_WIDTH = 8
LEFT_MARGIN = 44  # room for the top value's label
BOTTOM_MARGIN = 18  # room for the time labels
LABEL_EVERY = 12


@dataclass(frozen=True)
class Segment:
    """One part of a bar: its value and the CSS class that colours it."""

    value: float
    css_class: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css_class: str


@dataclass(frozen=True)
class Bar:
    title: str
    x: float
    rects: list[Rect]


@dataclass(frozen=True)
class AxisLabel:
    x: float
    text: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    left: int
    bar_pitch: int
    plot_height: int
    top_value: str
    bars: list[Bar]
    axis_labels: list[AxisLabel]


def _scale_top(largest: float) -> int:
    """A round top for the scale at or above the tallest bar: 1, 2 or 5 × 10ⁿ (1 for no bars)."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if magnitude * step >= largest:
                return magnitude * step
        magnitude *= 10


def bar_chart(
    bars: list[tuple[str, list[Segment]]], *, axis_labels: list[str], scale_cap: int | None = None, unit: str = ""
) -> BarChart:
    """The geometry of a stacked bar chart: one bar per (title, segments), left to right, scaled
    so the top of the plot is a round number at or above the tallest bar, but not above scale_cap
    (100 for a percentage)."""
    top = _scale_top(max((sum(s.value for s in segments) for _, segments in bars), default=0))
    if scale_cap is not None:
        top = min(top, scale_cap)
    plot_top, plot_bottom = 4, 4 + PLOT_HEIGHT
    drawn = []
    for index, (title, segments) in enumerate(bars):
        x = LEFT_MARGIN + index * BAR_PITCH
        baseline = plot_bottom
        rects = []
        for segment in segments:
            height = round(PLOT_HEIGHT * segment.value / top, 2)
            if height > 0:
                rects.append(Rect(x, round(baseline - height, 2), BAR_WIDTH, height, segment.css_class))
                baseline -= height
        drawn.append(Bar(title, x, rects))
    labels = [
        AxisLabel(LEFT_MARGIN + index * BAR_PITCH, text)
        for index, text in enumerate(axis_labels)
        if index % LABEL_EVERY == 0
    ]
    return BarChart(
        width=LEFT_MARGIN + len(bars) * BAR_PITCH,
        height=plot_bottom + BOTTOM_MARGIN,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        left=LEFT_MARGIN,
        bar_pitch=BAR_PITCH,
        plot_height=PLOT_HEIGHT,
        top_value=f"{top:,}{unit}",
        bars=drawn,
        axis_labels=labels,
    )
