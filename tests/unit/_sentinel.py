"""What the Sentinel tests share: addresses, master views, and a driver that plays the Sentinels
and the data nodes (``run``)."""

from __future__ import annotations

from typing import Any

from hasession._commands import Batch, Call, Flow
from hasession._exceptions import (
    StoreConnectionError,
    StoreError,
)
from hasession._sentinel import (
    MasterView,
    State,
)
from hasession._topology import Address

from ._play import play

M1 = Address("10.0.0.1", 6379)
R1 = Address("10.0.0.2", 6380)
R2 = Address("10.0.0.3", 6381)
S1, S2, S3 = (Address(f"10.0.1.{i}", 26379) for i in (1, 2, 3))
SENTINELS = (S1, S2, S3)
NAME = "mymaster"
NOW = 1000.0

KNOWN = MasterView(state=State.KNOWN, address=M1, last=M1, since=1.0, generation=1)
UNKNOWN = MasterView(state=State.UNKNOWN, last=M1, since=2.0, generation=1)
SWITCHING = MasterView(
    state=State.SWITCHING, hint=R2, avoid=M1, avoid_until=NOW + 5, last=M1, since=3.0, generation=1
)
VIEWS = {State.KNOWN: KNOWN, State.UNKNOWN: UNKNOWN, State.SWITCHING: SWITCHING}

MASTER = f"master {NAME} {M1.host} {M1.port}"

MASTER_ROLE = [b"master", 100, []]
REPLICA_ROLE = [b"slave", b"10.0.0.1", 6379, b"connected", 100]
DOWN = StoreConnectionError("refused")
Answers = dict[tuple[Address, str], Any]


def run(flow: Flow[Any], answers: Answers) -> tuple[list[tuple[Address, tuple[Any, ...]]], Any]:
    """Drive a node-targeted flow; ``answers[(node, first arg)]`` is a reply or an error to throw.
    A node without an answer is down. A Sentinel's answer to a lookup is the address it names, or
    ``(address, config epoch)`` (epoch 0 when not given)."""
    asked: list[tuple[Address, tuple[Any, ...]]] = []

    def answer(batch: Batch) -> Any:
        command = batch.commands[0]
        assert isinstance(command, Call) and batch.node is not None
        asked.append((batch.node, command.args))
        answer = answers.get((batch.node, str(command.args[0])), DOWN)
        if isinstance(answer, StoreError):
            return answer
        if len(batch.commands) == 2:  # get-master-addr-by-name, then SENTINEL MASTER
            address, epoch, *flags = answer if isinstance(answer, tuple) else (answer, 0)
            state = [b"name", NAME.encode(), b"config-epoch", str(epoch).encode()]
            state += [b"ip", address[0], b"port", address[1]] if address else []
            state += [b"flags", ",".join(["master", *flags]).encode()]
            return [address, state]
        return [answer]

    return asked, play(flow, answer)


def named(address: Address) -> list[bytes]:
    return [address.host.encode(), str(address.port).encode()]


ROLE = ("ROLE",)
ASK = ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)
