"""Blue-green pieces of the warm standby and the gRPC services, without the stack: the state
table's copy offset (what a promotion reads only the tail from) and a gRPC production address
that follows the role (make-before-break locally)."""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace

import grpc

from services.kit.contracts.phases import Phase
from services.kit.runtime import grpc_roles, role, service_table
from services.orchestrator.state import WorkflowState
from services.orchestrator.state_store import ChangelogTable


class _Producer:
    """Stands in for the transactional producer: each send lands at the next offset."""

    def __init__(self, first: int) -> None:
        self.offset = first

    async def send(self, *_a, **_k) -> asyncio.Future:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        fut.set_result(SimpleNamespace(offset=self.offset))
        self.offset += 1
        return fut


def _seed_state(wf: str, phase: str) -> WorkflowState:
    return WorkflowState(workflow_id=wf, session_id="s", correlation_id="c", request_event_id="e", requester_id="r",
                         purpose="p", auto_approve=True, subject_ids=[], request=None, phase=Phase[phase])


def test_the_copy_offset_moves_past_committed_writes_only():
    async def go() -> None:
        table = ChangelogTable("127.0.0.1:1", "uf.orchestrator.state")
        table._data[3], table._next[3] = {}, 40  # a copy restored up to offset 40
        producer = _Producer(first=40)
        await table.put(producer, 3, "wf-1", _seed_state("wf-1", "REVIEW"))
        await table.put(producer, 3, "wf-2", _seed_state("wf-2", "GENERATION"))
        table.commit(3)
        assert table._next[3] == 42 and table.get(3, "wf-1").phase == Phase.REVIEW
        await table.put(producer, 3, "wf-1", _seed_state("wf-1", "DELIVERY"))
        table.discard(3)  # the transaction did not commit: the copy stays valid up to 42
        assert table._next[3] == 42 and table.get(3, "wf-1").phase == Phase.REVIEW
        assert table.warm_partitions() == {3}
        table.drop({3})
        assert table.warm_partitions() == set() and table.get(3, "wf-1") is None

    asyncio.run(go())


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _until(probe, what: str, timeout_s: float = 15.0) -> None:
    """Poll `probe` until it holds (bounded): a busy machine only makes this slower, never wrong."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not reached within {timeout_s:.0f}s"
        await asyncio.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _gated_server(tmp_path, initial: str, linger_s: float) -> AsyncIterator[tuple]:
    """A role-gated gRPC server on two free ports, its role file starting as `initial`, running
    and watching the file; yields (role file, role state, production port, own port)."""
    path = tmp_path / "labels"
    role.write_role(path, initial)
    state = role.configure(str(path))
    prod, own = _free_port(), _free_port()
    gated = grpc_roles.RoleGatedGrpc(grpc.aio.server, host="127.0.0.1", port=prod, preview_port=own,
                                     credentials=grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP),
                                     linger_s=linger_s, grace_s=0.1)
    await gated.start()
    runner = asyncio.ensure_future(gated.run())
    watcher = asyncio.ensure_future(state.watch(0.02))
    try:
        yield path, state, prod, own
    finally:
        runner.cancel()
        watcher.cancel()
        await gated.stop()
        role.configure("")


def test_the_production_address_follows_the_role(tmp_path):
    async def go() -> None:
        async with _gated_server(tmp_path, role.PREVIEW, linger_s=3.0) as (path, state, prod, own):
            assert _listening(own) and not _listening(prod), "a preview serves only its colour's address"
            assert state.members[grpc_roles.MEMBER] == role.RELEASED
            role.write_role(path, role.ACTIVE)
            await _until(lambda: _listening(prod), "the active colour on the production address")
            assert state.members[grpc_roles.MEMBER] == role.CONSUMING
            role.write_role(path, role.PREVIEW)
            await _until(lambda: state.members[grpc_roles.MEMBER] == role.RELEASED, "released (it holds no partition)")
            assert _listening(prod), "the demoted colour lingers on the address while the new one binds it"
            await _until(lambda: not _listening(prod), "the production address let go after the linger")
            assert _listening(own)

    asyncio.run(go())


def test_the_demoted_colour_lets_go_as_soon_as_the_new_one_listens(tmp_path):
    """Callers' open connections move at the switch, not after the linger: the demoted colour
    stops its production listener (GOAWAY to its callers) once another listener is on the port."""
    async def go() -> None:
        async with _gated_server(tmp_path, role.ACTIVE, linger_s=60) as (path, state, prod, own):
            ours = grpc_roles.listening_sockets(prod)
            assert ours and len(ours) == 1
            with socket.socket() as new_colour:
                role.write_role(path, role.PREVIEW)
                await _until(lambda: state.members[grpc_roles.MEMBER] == role.RELEASED, "demotion seen")
                await asyncio.sleep(0.5)  # asserting an absence: the demoted colour had time to act, and did not
                assert grpc_roles.listening_sockets(prod) == ours, "alone on the address: it keeps serving it"
                new_colour.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as gRPC binds it
                new_colour.bind(("127.0.0.1", prod))
                new_colour.listen()
                theirs = grpc_roles.listening_sockets(prod) - ours
                await _until(lambda: grpc_roles.listening_sockets(prod) == theirs,
                             "the old listener gone, well within the 60 s linger")
                assert _listening(own)

    asyncio.run(go())


def test_listening_sockets_reads_the_kernel_tables(tmp_path):
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:C383 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0\n"
        "   1: 00000000:C383 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0\n"
        "   2: 0100007F:C383 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0\n"
        "   3: 0100007F:C384 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0 100 0 0 10 0\n")
    assert grpc_roles.listening_sockets(50051, (table,)) == {"111", "222"}  # listeners only, this port only
    assert grpc_roles.listening_sockets(50051, (tmp_path / "absent",)) is None


def test_colour_grpc_ports_are_apart_from_the_production_one():
    for name in ("validator", "pii"):
        base = service_table.SERVICES[name].grpc_port
        ports = {base, service_table.colour_grpc_port(name, "blue"), service_table.colour_grpc_port(name, "green")}
        assert len(ports) == 3
