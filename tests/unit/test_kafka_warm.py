"""The quick join (services/kit/messaging/warm.py) and the hand-over timeline, without servers:
the aiokafka internals the warm-up relies on still exist (an upgrade that removes one fails
here, not as a slow promotion in production), positions come from one committed-offsets read,
and every step of a role change is time-stamped once."""
from __future__ import annotations

import inspect

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.producer.sender import Sender
from aiokafka.structs import OffsetAndMetadata

from services.kit.messaging.warm import seek_to_committed
from services.kit.runtime import role
from ufctl.rollout.handover import timeline


async def test_the_aiokafka_internals_the_warm_up_calls_exist():
    for cls, name in ((GroupCoordinator, "ensure_coordinator_known"), (GroupCoordinator, "fetch_committed_offsets"),
                      (Sender, "_find_coordinator")):
        assert inspect.iscoroutinefunction(getattr(cls, name, None)), f"{cls.__name__}.{name}"
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", group_id="g")
    assert hasattr(consumer, "_client") and hasattr(consumer, "_coordinator") and hasattr(consumer._client, "_topics")
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", transactional_id="t")
    assert producer._txn_manager.transactional_id == "t" and isinstance(producer._sender, Sender)


class _Coordinator:
    def __init__(self, committed: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.committed, self.calls = committed, []

    async def fetch_committed_offsets(self, tps):
        self.calls.append(list(tps))
        return {tp: m for tp, m in self.committed.items() if tp in tps}


class _Consumer:
    def __init__(self, committed) -> None:
        self._coordinator = _Coordinator(committed)
        self.seeks: dict[TopicPartition, object] = {}

    def seek(self, tp, offset):
        self.seeks[tp] = offset

    async def seek_to_beginning(self, *tps):
        self.seeks.update({tp: "beginning" for tp in tps})

    async def seek_to_end(self, *tps):
        self.seeks.update({tp: "end" for tp in tps})


async def test_positions_come_from_one_committed_offsets_read():
    tps = [TopicPartition("t", p) for p in range(4)]
    consumer = _Consumer({tps[0]: OffsetAndMetadata(7, ""), tps[2]: OffsetAndMetadata(0, ""),
                          tps[3]: OffsetAndMetadata(-1, "")})
    await seek_to_committed(consumer, tps)  # type: ignore[arg-type]
    assert consumer._coordinator.calls == [tps], "one request for every partition"
    assert consumer.seeks == {tps[0]: 7, tps[1]: "beginning", tps[2]: 0, tps[3]: "beginning"}
    consumer = _Consumer({})
    await seek_to_committed(consumer, tps[:1], reset="latest")  # type: ignore[arg-type]
    assert consumer.seeks == {tps[0]: "end"}


def test_each_step_of_a_role_change_is_stamped_once_and_shown(tmp_path):
    path = tmp_path / "labels"
    role.write_role(path, role.PREVIEW)
    state = role.RoleState(path=path, role=role.PREVIEW)
    role.write_role(path, role.ACTIVE)
    assert state.refresh()
    state.report("g", role.JOINING)
    first = state.marks["g:joining"]
    state.mark("g:joining")
    assert state.marks["g:joining"] == first and set(state.marks) == {"role-seen", "g:joining"}
    assert state.snapshot()["marks"] == state.marks
    role.write_role(path, role.PREVIEW)
    assert state.refresh() and set(state.marks) == {"role-seen"}, "a new role change starts a new timeline"


def test_the_switch_timeline_orders_both_colours_steps_from_the_demotion():
    old = {"marks": {"role-seen": 10.05, "g:released": 10.4}}
    new = {"marks": {"role-seen": 10.5, "g:consuming": 11.2}}
    assert list(timeline(10_000, old, new).items()) == [
        ("old role-seen", 50), ("old g:released", 400), ("new role-seen", 500), ("new g:consuming", 1200)]
    assert timeline(10_000, None, new) == {"new role-seen": 500, "new g:consuming": 1200}
