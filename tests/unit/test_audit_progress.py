"""The validator's audit gates wait on progress notifications, not on a polling loop: the
projection is read now, again only when the audit service says this workflow moved (or the
subscription was re-established), and once more at the deadline."""
from __future__ import annotations

import asyncio

from services.validator.audit_progress import AuditProgress


class Probe:
    def __init__(self) -> None:
        self.calls, self.value = 0, False

    async def __call__(self) -> bool:
        self.calls += 1
        return self.value


async def test_true_at_once_reads_once():
    probe = Probe()
    probe.value = True
    assert await AuditProgress(redis=None).wait_until("wf-1", probe, 1.0)
    assert probe.calls == 1


async def test_a_notification_for_the_workflow_wakes_the_gate_long_before_its_deadline():
    progress, probe = AuditProgress(redis=None), Probe()
    waiting = asyncio.create_task(progress.wait_until("wf-1", probe, 30.0))
    await asyncio.sleep(0.05)
    assert probe.calls == 1 and not waiting.done(), "no re-read without a notification"
    probe.value = True
    progress._wake(["wf-other"])
    await asyncio.sleep(0.05)
    assert not waiting.done(), "another workflow's progress does not wake this gate"
    progress._wake(["wf-1"])
    assert await asyncio.wait_for(waiting, 1.0)
    assert probe.calls == 2
    assert not progress._waiters, "waiters are unregistered"


async def test_a_lost_notification_is_caught_by_the_check_at_the_deadline():
    progress, probe = AuditProgress(redis=None), Probe()
    waiting = asyncio.create_task(progress.wait_until("wf-1", probe, 0.3))
    await asyncio.sleep(0.05)
    probe.value = True  # projected, but the notification never arrives
    assert await waiting
    assert probe.calls == 2


async def test_never_recorded_is_false_after_the_deadline():
    progress, probe = AuditProgress(redis=None), Probe()
    assert not await progress.wait_until("wf-1", probe, 0.2)
    assert probe.calls == 2  # now and at the deadline: no polling in between


async def test_resubscribing_wakes_every_waiter():
    progress, a, b = AuditProgress(redis=None), Probe(), Probe()
    tasks = [asyncio.create_task(progress.wait_until(w, p, 30.0)) for w, p in (("wf-a", a), ("wf-b", b))]
    await asyncio.sleep(0.05)
    a.value = b.value = True
    progress._wake(None)
    assert all(await asyncio.wait_for(asyncio.gather(*tasks), 1.0))
