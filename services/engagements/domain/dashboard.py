"""The dashboard's small charts as geometry (pure): server-rendered SVG needs positions, and the labels must
never overlap whatever the data. Templates draw what these functions place; the tests check the placing."""

from dataclasses import dataclass
from datetime import date, timedelta

# An SVG text's width is not known on the server; this bound of an average glyph at the chart's font size
# (12 px: digits and capitals are about 0.6 em) keeps the estimate on the safe side.
CHAR_WIDTH = 7.5
LABEL_GAP = 6.0


@dataclass(frozen=True, slots=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    count: int
    week: date


@dataclass(frozen=True, slots=True)
class AxisLabel:
    x: float  # the label's centre
    text: str


@dataclass(frozen=True, slots=True)
class WeeklyChart:
    width: float
    height: float
    baseline: float  # y of the axis
    columns: list[Column]
    labels: list[AxisLabel]
    peak: int  # the count the tallest column stands for

    @property
    def total(self) -> int:
        return sum(column.count for column in self.columns)


def week_start(day: date) -> date:
    """The Monday of `day`'s week (PostgreSQL's date_trunc('week') agrees)."""
    return day - timedelta(days=day.weekday())


def weekly_counts(counted: dict[date, int], today: date, weeks: int) -> list[tuple[date, int]]:
    """The last `weeks` weeks up to `today`'s, oldest first, each with its count (0 for a week without any)."""
    last = week_start(today)
    return [(week, counted.get(week, 0)) for week in (last - timedelta(weeks=n) for n in range(weeks - 1, -1, -1))]


def week_label(week: date) -> str:
    return f"{week:%b} {week.day}"


def weekly_chart(counts: list[tuple[date, int]], width: float = 360, height: float = 170) -> WeeklyChart:
    """Columns for each week's count over an axis, and as many week labels as fit without touching."""
    axis_room = 20.0  # below the baseline, for the week labels
    count_room = 16.0  # above the tallest column, for its count
    baseline = height - axis_room
    pitch = width / max(len(counts), 1)
    peak = max((count for _, count in counts), default=0)
    scale = (baseline - count_room) / peak if peak else 0.0
    columns = [
        Column(
            x=round(i * pitch + pitch * 0.1, 2),
            y=round(baseline - count * scale, 2),
            width=round(pitch * 0.8, 2),
            height=round(count * scale, 2),
            count=count,
            week=week,
        )
        for i, (week, count) in enumerate(counts)
    ]
    return WeeklyChart(width, height, baseline, columns, _axis_labels(counts, pitch, width), peak)


def _axis_labels(counts: list[tuple[date, int]], pitch: float, width: float) -> list[AxisLabel]:
    """From the newest week back (it is always labelled), each week's label under its column, kept only when it
    clears the last one kept by LABEL_GAP; labels at the ends are moved inside the chart."""
    kept: list[AxisLabel] = []
    left_edge = width + LABEL_GAP  # of the label kept last
    for i in range(len(counts) - 1, -1, -1):
        text = week_label(counts[i][0])
        half = len(text) * CHAR_WIDTH / 2
        centre = min(max(i * pitch + pitch / 2, half), width - half)
        if centre + half + LABEL_GAP <= left_edge:
            kept.append(AxisLabel(x=round(centre, 2), text=text))
            left_edge = centre - half
    return kept[::-1]


@dataclass(frozen=True, slots=True)
class LoadBar:
    """One provider's open engagements, as a share (0-100) of the busiest provider's."""

    provider_id: str
    name: str
    open: int
    total: int  # every engagement it has had
    percent: float


def load_bars(loads: list[tuple[str, str, int, int]]) -> list[LoadBar]:
    """(provider_id, name, open, total) as bars, busiest first, each drawn against the busiest provider."""
    busiest = max((open_ for _, _, open_, _ in loads), default=0) or 1
    bars = [
        LoadBar(provider_id, name, open_, total, round(100.0 * open_ / busiest, 1))
        for provider_id, name, open_, total in loads
    ]
    return sorted(bars, key=lambda bar: (-bar.open, bar.name))


@dataclass(frozen=True, slots=True)
class CapacityBar:
    """One provider's engagements open now (routing's count: reserved or open) against its capacity."""

    provider_id: str
    name: str
    open: int
    capacity: int
    percent: float  # of the capacity, 0-100 (a provider over its capacity fills the bar)

    @property
    def full(self) -> bool:
        return self.open >= self.capacity

    @property
    def label(self) -> str:
        return f"open {self.open} of capacity {self.capacity}"


def capacity_bars(loads: list[tuple[str, str, int, int]]) -> list[CapacityBar]:
    """(provider_id, name, open, capacity) as bars, fullest first, each drawn against its own capacity; a provider
    with no capacity is full as soon as it has one open (and empty, not divided by zero, with none)."""
    bars = [
        CapacityBar(
            provider_id,
            name,
            open_,
            capacity,
            round(min(100.0, 100.0 * open_ / capacity), 1) if capacity > 0 else (100.0 if open_ else 0.0),
        )
        for provider_id, name, open_, capacity in loads
    ]
    return sorted(bars, key=lambda bar: (-bar.percent, -bar.open, bar.name))
