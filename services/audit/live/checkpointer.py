"""The checkpointer: reads audited partitions in order with its own consumer, feeds each record
into the partition's hash chain and emits a signed checkpoint every N records or T seconds.

Why a separate reader from the projection loop: the chain must see every record, decodable or
not, strictly in offset order, and must resume exactly after the last attested record. A record
at or below the last attested offset is skipped, so redelivery, restarts and rebalances never
count a record twice; unattested records are simply read again after a restart.

Many instances divide the partitions: the checkpointers of the active instances form their own
consumer group (`GROUP`), and each chains only the partitions the group gives it. The group is
used for division only - nothing is ever committed: a partition's position is *derived from its
last stored checkpoint* whenever it is assigned, never from a committed offset. Before the
group, every instance read and chained every partition, and the store's compare-and-set settled
who attested: N instances did N times the work, and two did ~170 conflicting checkpoints a
minute, each rebuilding that partition's tree. Division is an optimisation, not the safety: a
writer that still holds a partition it has just lost (a rebalance in flight, a paused process)
meets `CheckpointConflict` in the store and follows the stored head.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from services.audit.evidence import merkle
from services.audit.evidence.checkpoint import ZERO, Checkpoint, Entry, build, tree_of
from services.audit.evidence.hashing import content_hash, genesis
from services.audit.evidence.sigpolicy import SignaturePolicy
from services.audit.live import metrics
from services.audit.live.checkpoint_store import CheckpointConflict, CheckpointStore
from services.audit.live.topicset import audited
from services.kit.contracts import codec
from services.kit.contracts.events import Origin, make_event, now_ms, stable_id
from services.kit.messaging import fetch_sessions
from services.kit.messaging.bus import GROUP_TIMEOUTS
from services.kit.runtime import role
from services.kit.security import kafka_auth
from services.kit.security.signing import Signer, TrustStore, verify_signature

log = logging.getLogger(__name__)
MAX_PENDING_FACTOR = 10  # pause a partition when this many checkpoints' worth is unattested


MEMBER = "audit-checkpointer"  # its rollout-role report (role.py): it writes the chain, so one colour at a time
GROUP = "uf-audit-checkpointer"  # the active checkpointers' group (the audit principal may join `uf-audit*`)
RESUME_RETRY_S = 1.0  # a partition whose stored head could not be read is tried again this often


@dataclass
class PartitionState:
    """Where a partition's chain stands: after `last_offset` (attested), plus what is pending."""

    seq: int = 0
    last_offset: int = -1
    chain: bytes = b""
    prev_hash: bytes = ZERO
    pending: list[Entry] = field(default_factory=list)
    first_pending_at: float = 0.0
    tree: merkle.Frontier | None = field(default_factory=merkle.Frontier)  # None: history unreadable -> v1

    @classmethod
    def after(cls, cp: Checkpoint, tree: merkle.Frontier | None = None) -> PartitionState:
        return cls(seq=cp.seq + 1, last_offset=cp.last_offset, chain=cp.chain_head, prev_hash=cp.hash, tree=tree)

    def next_offset(self) -> int:
        return (self.pending[-1].offset if self.pending else self.last_offset) + 1

    def follows(self, head: Checkpoint | None) -> bool:
        """True when this state resumes exactly after `head`, the stored head: nobody attested
        the partition since this process last did, so its chain and tree are still right."""
        if head is None:
            return self.seq == 0 and self.last_offset < 0
        return self.seq == head.seq + 1 and self.last_offset == head.last_offset and self.prev_hash == head.hash


class _Handover(ConsumerRebalanceListener):
    """The group's word on which partitions this instance chains."""

    def __init__(self, checkpointer: Checkpointer) -> None:
        self.checkpointer = checkpointer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.checkpointer.writing:  # a checkpoint being written lands before the next owner reads the head
            self.checkpointer.let_go(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:
            await self.checkpointer.take(assigned)
        except Exception as exc:  # never into aiokafka: a raising listener left the group stuck (no rejoin)
            log.error("checkpointer hand-over failed; partitions retried", extra={"error": exc.__class__.__name__})


def checkpoint_event(cp: Checkpoint, origin: Origin) -> dict:
    """The AuditCheckpoint event published to uf.audit.checkpoints."""
    stream = f"{cp.topic}:{cp.partition}"
    j = cp.to_json()
    return make_event(
        "AuditCheckpoint", origin=origin, workflow_id=stream, session_id="", correlation_id=stream,
        event_id=stable_id("audit-checkpoint", cp.checkpoint_id), occurred_at=cp.created_at,
        checkpoint_id=cp.checkpoint_id, topic=cp.topic, partition=cp.partition, seq=cp.seq,
        first_offset=cp.first_offset, last_offset=cp.last_offset, record_count=cp.record_count,
        tree_size=cp.tree_size, tree_root=j["tree_root"],
        merkle_root=j["merkle_root"], chain_head=j["chain_head"], prev_chain_head=j["prev_chain_head"],
        prev_checkpoint_hash=j["prev_checkpoint_hash"], manifest_sha256=j["manifest_sha256"], manifest=cp.manifest,
        created_at=cp.created_at, key_id=cp.key_id, signature=j["signature"])


class Checkpointer:
    def __init__(self, *, bootstrap: str, store: CheckpointStore, producer: AIOKafkaProducer, signer: Signer,
                 me: Origin, checkpoint_topic: str, every: int = 100, interval_s: float = 5.0,
                 extra_pattern: str = "", refresh_s: float = 5.0, policy: SignaturePolicy | None = None,
                 trust: TrustStore | None = None, group_id: str = GROUP,
                 select: Callable[[Iterable[str]], list[str]] | None = None) -> None:
        """`select` picks, from the cluster's topics, the ones this checkpointer chains (default:
        `topicset.audited` with `extra_pattern`); every member of one group must select alike."""
        self.store, self.producer, self.signer, self.me = store, producer, signer, me
        self.checkpoint_topic, self.every, self.interval_s = checkpoint_topic, max(1, every), max(0.1, interval_s)
        self.extra_pattern, self.refresh_s = extra_pattern, refresh_s
        self.policy, self.trust = policy, trust
        self.select = select or (lambda names: audited(names, extra_pattern))
        self._consumer_args = dict(
            bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
            isolation_level="read_committed", auto_offset_reset="earliest",
            metadata_max_age_ms=int(max(1.0, refresh_s) * 1000),
            # round robin over all audited partitions: the range assignor gives every
            # one-partition topic to the same member
            partition_assignment_strategy=(RoundRobinPartitionAssignor,),
            # Checkpoints are cut every `interval_s` or `every` records, so nothing waits for this
            # reader record by record: let the broker gather up to 64 KiB or 1 s per fetch (each
            # fetch names every assigned partition: fewer, fuller fetches cost the broker and this
            # process far less, idle or busy).
            fetch_min_bytes=64 * 1024, fetch_max_wait_ms=1000,
            **GROUP_TIMEOUTS, **kafka_auth.client_args())
        self.consumer = AIOKafkaConsumer(**self._consumer_args)
        self._consumer_live = False  # started and not stopped (a stopped aiokafka consumer cannot restart)
        self._handover = _Handover(self)
        self.topics: list[str] = []  # subscribed (empty: not a member of the group)
        self.joined = False  # the group has answered since subscribing (possibly with no partition)
        self.states: dict[TopicPartition, PartitionState] = {}  # also kept for partitions given away
        self.assigned: set[TopicPartition] = set()
        self.unresumed: set[TopicPartition] = set()  # assigned, stored head not read yet: paused
        self.paused: set[TopicPartition] = set()
        # Partitions with nothing pending whose gauges already read 0: `emit_due` runs five times
        # a second over ~200 partitions, and two labelled gauge updates per partition per step were
        # most of the checkpointer's idle CPU. A partition leaves the set when a record arrives.
        self._idle_shown: set[TopicPartition] = set()
        self._last_refresh = 0.0
        self._last_retry = 0.0
        self._last_resume = 0.0
        # Held while a new assignment is positioned and while the subscription changes: a
        # subscription changed during the hand-over (a scratch topic appeared) dropped the
        # assignment under the listener's feet, which then raised and the group never rejoined.
        self._membership = asyncio.Lock()
        # Held while a checkpoint is written; a revocation waits for it (as a consumer commits
        # before it gives partitions away), so the member that takes a partition over reads a head
        # no write of this member will pass. Without it the compare-and-set still refused the
        # late write, as a conflict.
        self.writing = asyncio.Lock()

    async def start(self) -> None:
        """Republish what a previous run stored but did not publish; join the group when the
        instance is active (a preview instance joins when promoted, in `run`)."""
        await self.republish()
        if role.current().active:
            await self.join()

    async def stop(self) -> None:
        if self._consumer_live:
            await self.consumer.stop()
            self._consumer_live = False

    async def join(self) -> None:
        """Subscribe to the audited topics; the group assigns partitions (`take`)."""
        if not self._consumer_live:
            self.consumer = AIOKafkaConsumer(**self._consumer_args)
            await fetch_sessions.start(self.consumer)
            self._consumer_live = True
        await self.refresh_assignment(force=True)

    async def leave(self) -> None:
        """Leave the group (the consumer's stop sends LeaveGroup): the remaining members take
        this instance's partitions at once instead of after the session timeout."""
        await self.stop()
        self.let_go(list(self.assigned))
        self.topics, self.joined = [], False

    async def state_after(self, topic: str, partition: int, head: Checkpoint | None) -> PartitionState:
        """Resume after the stored head; the partition's tree frontier is rebuilt from the stored
        manifests (O(records) hashes, once per start or hand-over of the partition). If that
        history is unreadable the partition goes on with v1 checkpoints (no whole-tree root)
        rather than sign a wrong one."""
        if head is None:
            return PartitionState(chain=genesis(topic, partition))
        cps, _ = await self.store.redis_checkpoints(topic, partition)
        tree = tree_of([c for c in cps if c.seq <= head.seq])
        if tree is None:
            log.error("checkpoint history unreadable: whole-tree roots suspended", extra={"topic": topic, "partition": partition})
        return PartitionState.after(head, tree)

    async def ready(self) -> None:
        if role.current().active and not self.joined:
            raise RuntimeError("not in the checkpointer group yet")

    async def refresh_assignment(self, force: bool = False) -> None:
        """Follow topics appearing/disappearing (scratch topics, new declared ones): a changed
        set is a new subscription, and the group divides the partitions again."""
        self._last_refresh = time.monotonic()
        # every topic, not only the subscribed ones (what a plain metadata refresh would return)
        cluster = await self.consumer._client.fetch_all_metadata()
        wanted = sorted(self.select(cluster.topics()))
        if not wanted or (wanted == self.topics and not force):
            return
        async with self._membership:
            self.consumer.subscribe(wanted, listener=self._handover)
            self.topics = wanted
        log.info("checkpointer subscription", extra={"topics": len(wanted)})

    def let_go(self, revoked: list[TopicPartition]) -> None:
        """Partitions another member chains from now on. Their pending records are dropped (the
        new owner reads them again after the stored head); the state is kept, and reused if the
        partition comes back with nobody having attested it since (`PartitionState.follows`).
        Their gauges go: a stale value here would hide the new owner's or raise a false alert."""
        for tp in revoked:
            self.assigned.discard(tp)
            self.unresumed.discard(tp)
            self.paused.discard(tp)
            self._idle_shown.discard(tp)
            st = self.states.get(tp)
            if st is not None:
                st.pending.clear()
                st.first_pending_at = 0.0
            for gauge in (metrics.UNATTESTED, metrics.UNATTESTED_AGE, metrics.LAST_CHECKPOINT):
                with contextlib.suppress(KeyError):
                    gauge.remove(tp.topic, str(tp.partition))

    async def take(self, assigned: list[TopicPartition]) -> None:
        """The group's new assignment. Each partition stays paused until its position is derived
        from its stored head (`resume`): nothing is fetched from anywhere else."""
        async with self._membership:
            self.joined = True
            mine = set(assigned)
            self.let_go([tp for tp in self.assigned if tp not in mine])
            self.let_go(assigned)  # nothing pending, no gauge, until positioned
            self.assigned, self.unresumed = mine, set(mine)
            held = [tp for tp in assigned if self._held(tp)]  # pausing one not held raises, leaving the rest unpaused
            if held:
                self.consumer.pause(*held)
            await self._position()
        log.info("checkpointer assignment", extra={"partitions": len(assigned), "waiting": len(self.unresumed)})

    def _held(self, tp: TopicPartition) -> bool:
        """Does the consumer hold `tp` right now? Seeking, pausing or resuming a partition it does
        not hold (a rebalance has begun) raises inside aiokafka."""
        return tp in self.consumer.assignment()

    async def resume(self) -> None:
        """Position every assigned partition not yet positioned right after its stored head. A
        store error leaves the partition paused, and `step` tries again (never a guessed position)."""
        async with self._membership:
            await self._position()

    async def _position(self) -> None:
        self._last_resume = time.monotonic()
        from_start, ready = [], []
        for tp in sorted(self.unresumed):
            try:
                head = await self.store.head(tp.topic, tp.partition)
                st = self.states.get(tp)
                if st is None or not st.follows(head):  # new here, or another writer went further
                    st = self.states[tp] = await self.state_after(tp.topic, tp.partition, head)
            except Exception as exc:
                log.warning("checkpointer partition not resumed yet", extra={"topic": tp.topic, "partition": tp.partition,
                                                                           "error": exc.__class__.__name__})
                continue
            if tp not in self.unresumed or not self._held(tp):  # revoked while the store answered
                continue
            st.pending.clear()  # re-read from the last attested record: deterministic again
            st.first_pending_at = 0.0
            if st.last_offset < 0:
                from_start.append(tp)
            else:
                self.consumer.seek(tp, st.last_offset + 1)
            ready.append(tp)
        held = self.consumer.assignment()  # what the consumer holds now (a rebalance may have begun)
        from_start = [tp for tp in from_start if tp in held]
        if from_start:  # one offset reset for all (one per partition waits a fetch round each: minutes with 200 partitions)
            await self.consumer.seek_to_beginning(*from_start)
        # A vanished topic keeps its state: if it comes back (recreated), records at or below the
        # last attested offset are not attested again - the verifier judges them against the old ones.
        held = self.consumer.assignment()
        ready = [tp for tp in ready if tp in self.unresumed and tp in held]
        self.unresumed.difference_update(ready)
        if ready:
            self.consumer.resume(*ready)

    def observe(self, tp: TopicPartition, msg: ConsumerRecord) -> None:
        st = self.states.get(tp)
        if st is None or msg.offset < st.next_offset():
            return  # already attested or already pending: never counted twice
        headers = list(msg.headers or ())
        st.pending.append(Entry(msg.offset, int(msg.timestamp), content_hash(msg.timestamp, msg.key, msg.value, headers)))
        if len(st.pending) == 1:
            st.first_pending_at = time.monotonic()
        if self.policy is not None and self.trust is not None:
            ok, reason, key_id = verify_signature(tp.topic, msg.key, msg.value, headers, self.trust)
            verdict = self.policy.judge(tp.topic, msg.timestamp, ok, reason, key_id)
            if verdict:
                metrics.SIGNATURE_FAILURES.labels(tp.topic, verdict).inc()

    async def emit(self, tp: TopicPartition, st: PartitionState, n: int) -> Checkpoint:
        entries = st.pending[:n]
        tree = st.tree.copy() if st.tree is not None else None
        cp = build(topic=tp.topic, partition=tp.partition, seq=st.seq, entries=entries, prev_chain_head=st.chain,
                   prev_checkpoint_hash=st.prev_hash, created_at=now_ms(), signer=self.signer, tree=tree)
        try:
            await self.store.save_redis(cp)  # the point of no return: from here the range is attested
        except CheckpointConflict:
            head = await self.store.head(tp.topic, tp.partition)  # another writer got further: follow it
            self.states[tp] = await self.state_after(tp.topic, tp.partition, head)
            if tp in self.assigned and self._held(tp):
                self.consumer.seek(tp, self.states[tp].last_offset + 1)
            log.warning("checkpoint conflict: resumed after the stored head", extra={"topic": tp.topic, "partition": tp.partition})
            raise
        st.seq, st.last_offset, st.chain, st.prev_hash, st.tree = cp.seq + 1, cp.last_offset, cp.chain_head, cp.hash, tree
        del st.pending[:n]
        st.first_pending_at = time.monotonic() if st.pending else 0.0
        metrics.CHECKPOINTS.labels(tp.topic).inc()
        metrics.LAST_CHECKPOINT.labels(tp.topic, str(tp.partition)).set_to_current_time()
        await self.publish(cp)
        return cp

    async def publish(self, cp: Checkpoint) -> bool:
        """Second and third copies (OpenSearch, Kafka); retried later if either fails."""
        try:
            await self.store.save_es(cp)
        except Exception as exc:
            metrics.CHECKPOINT_FAILURES.labels("opensearch").inc()
            log.warning("checkpoint not yet in OpenSearch", extra={"error": exc.__class__.__name__})
            return False
        try:
            value = codec.encode(checkpoint_event(cp, self.me))
            key = f"{cp.topic}:{cp.partition}".encode()
            await self.producer.send_and_wait(self.checkpoint_topic, value, key=key,
                                              headers=self.signer.headers(self.checkpoint_topic, key, value))
        except Exception as exc:
            metrics.CHECKPOINT_FAILURES.labels("kafka").inc()
            log.warning("checkpoint not yet on Kafka", extra={"error": exc.__class__.__name__})
            return False
        await self.store.mark_published(cp)
        return True

    async def republish(self) -> None:
        for cp in (await self.store.unpublished())[:1000]:
            if not await self.publish(cp):
                break

    async def emit_due(self) -> None:
        now = time.monotonic()
        for tp, st in list(self.states.items()):
            if not st.pending and tp in self._idle_shown and tp not in self.paused:
                continue  # nothing to attest, gauges already at 0, nothing to resume
            for _ in range(MAX_PENDING_FACTOR * 10):  # bounded: a burst yields several full checkpoints
                try:
                    async with self.writing:
                        if tp not in self.assigned or tp in self.unresumed:
                            break  # not this instance's partition (now), or not positioned yet
                        if len(st.pending) >= self.every:
                            await self.emit(tp, st, self.every)
                        elif st.pending and now - st.first_pending_at >= self.interval_s:
                            await self.emit(tp, st, len(st.pending))
                        else:
                            break
                except CheckpointConflict:
                    # Another writer (a second instance, or one that ran while this one did not)
                    # attested this partition further; `emit` resumed it after that head and its
                    # records are read again. Only this partition: the others go on in this
                    # step. Raising made the whole step fail and back off up to 10 s, once per
                    # stale partition - after a two-instance drill the checkpointer attested one
                    # partition per 10 s for over ten minutes.
                    metrics.CHECKPOINT_FAILURES.labels("conflict").inc()
                    st = self.states[tp]
                    break
            if tp in self.assigned:
                metrics.UNATTESTED.labels(tp.topic, str(tp.partition)).set(len(st.pending))
                metrics.UNATTESTED_AGE.labels(tp.topic, str(tp.partition)).set(now - st.first_pending_at if st.pending else 0)
                if st.pending:
                    self._idle_shown.discard(tp)
                else:
                    self._idle_shown.add(tp)
            self._flow_control(tp, st)

    def _flow_control(self, tp: TopicPartition, st: PartitionState) -> None:
        """Bound memory while a store is down: stop fetching a partition with too much pending."""
        if tp not in self.assigned or not self._held(tp):
            return
        if len(st.pending) >= MAX_PENDING_FACTOR * self.every and tp not in self.paused:
            self.consumer.pause(tp)
            self.paused.add(tp)
        elif len(st.pending) < MAX_PENDING_FACTOR * self.every // 2 and tp in self.paused:
            self.consumer.resume(tp)
            self.paused.discard(tp)

    async def step(self) -> int:
        """One bounded iteration: fetch, chain, checkpoint what is due. Returns records seen."""
        seen = 0
        batches = await self.consumer.getmany(timeout_ms=200, max_records=1000)
        for tp, msgs in batches.items():
            for msg in msgs:
                self.observe(tp, msg)
            seen += len(msgs)
        await self.emit_due()
        now = time.monotonic()
        if self.unresumed and now - self._last_resume >= RESUME_RETRY_S:
            await self.resume()
        if now - self._last_refresh >= self.refresh_s:
            await self.refresh_assignment()
        if now - self._last_retry >= 30:
            self._last_retry = now
            await self.republish()
        return seen

    async def run(self) -> None:
        """Chain and checkpoint while the rollout role is active. A preview colour (or one
        demoted) is in no group and signs and publishes nothing: it waits, and when promoted
        joins the group, which resumes each partition after the stored head the other colour
        reached - the same path as a restart."""
        backoff = 0.5
        state = role.current()
        while True:
            if not state.active:
                if self._consumer_live:
                    await self.leave()
                state.report(MEMBER, role.RELEASED)
                await state.until_active()
                continue
            state.report(MEMBER, role.CONSUMING)
            try:
                if not self.topics:
                    await self.join()
                    if not self.topics:  # no audited topic exists yet
                        await asyncio.sleep(self.refresh_s)
                        continue
                await self.step()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store outage must not kill the service: retry, bounded backoff
                metrics.CHECKPOINT_FAILURES.labels("step").inc()
                log.warning("checkpointer step failed", extra={"error": exc.__class__.__name__})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
