"""The dashboard's chart geometry (domain/dashboard.py): columns in proportion, week labels that never overlap whatever
the number of weeks and the width, and provider load against capacity."""

from datetime import date

import pytest

from services.engagements.domain.dashboard import (
    CHAR_WIDTH,
    LABEL_GAP,
    capacity_bars,
    load_bars,
    week_start,
    weekly_chart,
    weekly_counts,
)

TODAY = date(2026, 12, 2)  # a Wednesday


def test_weeks_start_on_monday_and_missing_weeks_count_zero():
    assert week_start(TODAY) == date(2026, 11, 30)
    counts = weekly_counts({date(2026, 11, 30): 4, date(2026, 11, 16): 2}, TODAY, 4)
    assert counts == [(date(2026, 11, 9), 0), (date(2026, 11, 16), 2), (date(2026, 11, 23), 0), (date(2026, 11, 30), 4)]


def test_columns_are_in_proportion_and_the_tallest_fills_the_plot():
    chart = weekly_chart(weekly_counts({date(2026, 11, 30): 4, date(2026, 11, 23): 2}, TODAY, 3))
    heights = {column.week: column.height for column in chart.columns}
    assert heights[date(2026, 11, 30)] == pytest.approx(2 * heights[date(2026, 11, 23)])
    assert heights[date(2026, 11, 16)] == 0
    assert chart.peak == 4 and chart.total == 6
    assert all(column.y + column.height == pytest.approx(chart.baseline) for column in chart.columns)
    assert min(column.y for column in chart.columns) >= 12  # room above the tallest column for its count


def test_an_empty_chart_has_flat_columns():
    chart = weekly_chart(weekly_counts({}, TODAY, 12))
    assert chart.peak == 0 and all(column.height == 0 for column in chart.columns)


@pytest.mark.parametrize("weeks", [1, 4, 12, 26, 52, 104])
@pytest.mark.parametrize("width", [200, 320, 360, 640, 1000])
def test_week_labels_never_overlap_and_stay_inside(weeks, width):
    chart = weekly_chart(weekly_counts({}, TODAY, weeks), width=width)
    spans = [
        (label.x - len(label.text) * CHAR_WIDTH / 2, label.x + len(label.text) * CHAR_WIDTH / 2)
        for label in chart.labels
    ]
    assert spans, "at least the current week is labelled"
    assert all(left >= 0 and right <= width for left, right in spans)
    assert all(
        right + LABEL_GAP <= following_left for (_, right), (following_left, _) in zip(spans, spans[1:], strict=False)
    )
    assert chart.labels[-1].text == "Nov 30"  # the current week


def test_load_is_drawn_against_the_busiest_provider_busiest_first():
    bars = load_bars([("iacp", "IACP", 2, 9), ("npi", "National Policing Institute", 4, 4), ("x", "X", 0, 3)])
    assert [(bar.provider_id, bar.percent) for bar in bars] == [("npi", 100.0), ("iacp", 50.0), ("x", 0.0)]


def test_no_load_is_empty_bars():
    assert load_bars([("a", "A", 0, 2)])[0].percent == 0.0


def test_capacity_bars_are_drawn_against_each_providers_capacity_fullest_first():
    bars = capacity_bars([("iacp", "IACP", 1, 4), ("npi", "NPI", 3, 3), ("fop", "FOP", 0, 2)])
    assert [(bar.provider_id, bar.percent, bar.full) for bar in bars] == [
        ("npi", 100.0, True),
        ("iacp", 25.0, False),
        ("fop", 0.0, False),
    ]
    assert bars[1].label == "open 1 of capacity 4"


def test_capacity_bars_never_overflow_nor_divide_by_zero():
    over, none_open, zero = capacity_bars([("a", "A", 5, 2), ("b", "B", 1, 0), ("c", "C", 0, 0)])
    assert (over.percent, over.full, over.label) == (100.0, True, "open 5 of capacity 2")
    assert (none_open.percent, none_open.full) == (100.0, True)
    assert (zero.percent, zero.full) == (0.0, True)


def test_no_registry_is_no_capacity_bars():
    assert capacity_bars([]) == []
