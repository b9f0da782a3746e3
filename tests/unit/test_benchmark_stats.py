"""The benchmark's arithmetic (run: pytest benchmarks/test_stats.py)."""

import math

from benchmarks.report import batch_profile
from benchmarks.stats import Trace, percentile, spans, throughput


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_nan():
    assert math.isnan(percentile([], 50))


def test_spans_measure_each_hop_over_the_traces_that_reached_both_ends():
    complete = Trace(sent=0.0, submitted=0.1, routed=0.3)
    stuck = Trace(sent=0.0, submitted=0.2)
    hops = spans([complete, stuck], {"intake": ("sent", "submitted"), "routing": ("submitted", "routed")})
    assert hops["intake"].count == 2
    assert hops["intake"].max_ms == 200.0
    assert hops["routing"].count == 1
    assert round(hops["routing"].percentiles_ms["p50"]) == 200


def test_throughput_counts_completions_from_first_start_to_last_end():
    assert throughput([10.0, 11.0], [12.0, 14.0]) == 0.5
    assert throughput([10.0], []) == 0.0


def test_batch_profile_is_the_difference_between_two_scrapes():
    before = {"routing": {"batch_seconds": 1.0, "batches": 10, "consumed": 100, "published": 100}}
    after = {"routing": {"batch_seconds": 3.0, "batches": 20, "consumed": 600, "published": 600}}
    routing = batch_profile(before, after)["routing"]
    assert routing["records_per_batch"] == 50
    assert routing["ms_per_batch"] == 200
    assert routing["ms_per_record"] == 4
