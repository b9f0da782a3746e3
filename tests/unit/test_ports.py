"""`cri up`'s fixed ports: README's table is the code's, each is overridden by its variable, and a port in use is
refused with the variable to change."""

import os
import re
import socket
from dataclasses import fields
from pathlib import Path

import pytest

from system.stack.ports import FIXED_PORTS, Ports, PortTaken

README = Path(__file__).parents[2] / "README.md"


def test_readmes_port_table_is_the_codes():
    documented = {}
    for row in re.findall(r"^\| [^|]+ \| ([\d, ]+) \| (`CRI_[^|]+) \|$", README.read_text(), re.MULTILINE):
        ports, variables = row[0].split(", "), re.findall(r"`(CRI_\w+)`", row[1])
        documented.update(zip(variables, map(int, ports), strict=True))
    assert documented == {Ports.variable(f.name): getattr(FIXED_PORTS, f.name) for f in fields(Ports)}


def test_each_port_is_overridden_by_its_variable():
    ports = Ports.fixed({"CRI_INTAKE_PORT": "9001", "CRI_KAFKA_PORT": "9999"})
    assert (ports.intake, ports.kafka, ports.postgres) == (9001, 9999, FIXED_PORTS.postgres)


def test_a_port_in_use_is_refused_naming_the_variable_to_change():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            PortTaken, match=f"port {port} \\(smtp sink\\).*CRI_SMTP_SINK_PORT=<port> cri up"
        ) as refused:
            Ports(smtp_sink=port).check_free(["postgres", "smtp_sink"])
    assert f"(pid {os.getpid()}: " in str(refused.value)  # the program in the way


def test_a_port_left_at_zero_is_a_free_one_and_never_refused():
    assert Ports(intake=8123).of("intake") == 8123
    assert Ports().of("intake") > 0
    Ports().check_free([f.name for f in fields(Ports)])


def test_a_clusters_nodes_take_every_other_port_from_the_fixed_one():
    fixed = Ports.fixed({})
    assert fixed.series("kafka", 3) == [9192, 9194, 9196]
    assert fixed.series("kafka_controller", 3) == [9193, 9195, 9197]
    chosen = Ports().series("kafka", 3)
    assert len(set(chosen)) == 3 and all(chosen)
