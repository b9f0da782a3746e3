"""The benchmark's CPU per request: each process of its own, the services' sum, a cluster's brokers counted each."""

from benchmarks import cpu
from system.stack.kafka_cluster import NODE_NAMES
from system.stack.runner import SERVICES


def test_each_broker_of_a_cluster_counts_and_their_sum_is_reported():
    before = {"notify": 1.0, "routing#2": 0.5, "broker": 1.0, "broker-2": 2.0, "broker-3": 3.0, "postgres": 0.0}
    after = {"notify": 1.2, "routing#2": 0.6, "broker": 1.1, "broker-2": 2.1, "broker-3": 3.1, "postgres": 0.3}
    ms = cpu.per_request(before, after, 100, set(SERVICES), set(NODE_NAMES))
    assert [round(ms[n], 6) for n in ("broker", "broker-2", "broker-3")] == [1.0, 1.0, 1.0]
    assert round(ms["brokers"], 6) == 3.0
    assert round(ms["services"], 6) == 3.0  # notify 2.0 + a routing replica 1.0
    assert round(ms["all"], 6) == 9.0  # the sums are not counted twice


def test_a_single_broker_has_no_brokers_sum():
    ms = cpu.per_request({"broker": 0.0}, {"broker": 0.1}, 100, set(SERVICES), set(NODE_NAMES))
    assert "brokers" not in ms
    assert round(ms["all"], 6) == 1.0
