"""CPU time per request, per process: less sensitive to a busy shared machine than latency or throughput.

Each process's user + system time, with that of its descendants (PostgreSQL's backends, the JVM's threads are
one process): live descendants are read directly and exited ones through the times their parent reaped."""

import psutil


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process and all its descendants have used so far (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def sample(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process, and of this one (the load generator and event collector)."""
    own = psutil.Process().cpu_times()  # not its children: it started the system's processes
    return {name: cpu_seconds(pid) for name, pid in pids.items()} | {"benchmark": own.user + own.system}


def per_request(
    before: dict[str, float],
    after: dict[str, float],
    requests: int,
    services: set[str],
    brokers: frozenset[str] | set[str] = frozenset(),
) -> dict:
    """Milliseconds of CPU per request of each process between two samples, the services' sum and the whole; of a
    cluster (more than one of `brokers` measured) also the brokers' sum, to compare with a single broker's row."""
    ms = {name: 1000 * (after[name] - before.get(name, 0.0)) / max(requests, 1) for name in after}
    nodes = [v for name, v in ms.items() if name in brokers]
    return (
        ms
        | {"services": sum(v for name, v in ms.items() if name.split("#")[0] in services)}
        | ({"brokers": sum(nodes)} if len(nodes) > 1 else {})
        | {"all": sum(ms.values())}
    )
