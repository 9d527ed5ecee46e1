"""The checkpointer: reads every audited partition in order with its own consumer (no group:
its position is *derived from the last stored checkpoint*, never from a committed offset), feeds
each record into the partition's hash chain and emits a signed checkpoint every N records or T
seconds.

Why a separate reader from the projection loop: the chain must see every record, decodable or
not, strictly in offset order, and must resume exactly after the last attested record. A record
at or below the last attested offset is skipped, so redelivery, restarts and rebalances never
count a record twice; unattested records are simply read again after a restart.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

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
from services.kit.runtime import role
from services.kit.security import kafka_auth
from services.kit.security.signing import Signer, TrustStore, verify_signature

log = logging.getLogger(__name__)
MAX_PENDING_FACTOR = 10  # pause a partition when this many checkpoints' worth is unattested


MEMBER = "audit-checkpointer"  # its rollout-role report (role.py): it writes the chain, so one colour at a time


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
                 trust: TrustStore | None = None) -> None:
        self.store, self.producer, self.signer, self.me = store, producer, signer, me
        self.checkpoint_topic, self.every, self.interval_s = checkpoint_topic, max(1, every), max(0.1, interval_s)
        self.extra_pattern, self.refresh_s = extra_pattern, refresh_s
        self.policy, self.trust = policy, trust
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                         isolation_level="read_committed", auto_offset_reset="earliest",
                                         metadata_max_age_ms=int(max(1.0, refresh_s) * 1000),
                                         # Checkpoints are cut every `interval_s` or `every` records, so
                                         # nothing waits for this reader record by record: let the broker
                                         # gather up to 64 KiB or 1 s per fetch (each fetch names every
                                         # audited partition, ~200: fewer, fuller fetches cost the broker and
                                         # this process far less, idle or busy).
                                         fetch_min_bytes=64 * 1024, fetch_max_wait_ms=1000,
                                         **kafka_auth.client_args())
        self.states: dict[TopicPartition, PartitionState] = {}
        self.assigned: set[TopicPartition] = set()
        self.paused: set[TopicPartition] = set()
        # Partitions with nothing pending whose gauges already read 0: `emit_due` runs five times
        # a second over ~200 partitions, and two labelled gauge updates per partition per step were
        # most of the checkpointer's idle CPU. A partition leaves the set when a record arrives.
        self._idle_shown: set[TopicPartition] = set()
        self._last_refresh = 0.0
        self._last_retry = 0.0

    async def start(self) -> None:
        await fetch_sessions.start(self.consumer)
        await self.republish()
        heads = await self.store.heads()
        for (topic, partition), cp in heads.items():
            self.states[TopicPartition(topic, partition)] = await self.state_after(topic, partition, cp)
        await self.refresh_assignment(force=True)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def resume_from_store(self) -> None:
        """Forget what this process chained and re-read every partition's stored head: another
        colour may have checkpointed further while this one was not active."""
        for attempt in range(1_000_000):
            try:
                self.states.clear()
                await self.refresh_assignment(force=True)
                return
            except Exception as exc:  # a store outage: waited out, never a wrong chain
                log.warning("checkpointer resume failed; retrying", extra={"error": exc.__class__.__name__})
                await asyncio.sleep(min(0.5 * 2**attempt, 10.0))

    async def state_after(self, topic: str, partition: int, head: Checkpoint | None) -> PartitionState:
        """Resume after the stored head; the partition's tree frontier is rebuilt from the stored
        manifests (O(records) hashes once per start). If that history is unreadable the partition
        goes on with v1 checkpoints (no whole-tree root) rather than sign a wrong one."""
        if head is None:
            return PartitionState(chain=genesis(topic, partition))
        cps, _ = await self.store.redis_checkpoints(topic, partition)
        tree = tree_of([c for c in cps if c.seq <= head.seq])
        if tree is None:
            log.error("checkpoint history unreadable: whole-tree roots suspended", extra={"topic": topic, "partition": partition})
        return PartitionState.after(head, tree)

    async def ready(self) -> None:
        if not self.assigned:
            raise RuntimeError("no audited partitions assigned yet")

    async def refresh_assignment(self, force: bool = False) -> None:
        """Follow topics appearing/disappearing (scratch topics, new declared ones)."""
        self._last_refresh = time.monotonic()
        # every topic, not only the assigned ones (what a plain metadata refresh would return)
        cluster = await self.consumer._client.fetch_all_metadata()
        wanted = {TopicPartition(t, p) for t in audited(cluster.topics(), self.extra_pattern)
                  for p in (cluster.partitions_for_topic(t) or ())}
        if wanted == self.assigned and not force:
            return
        self.consumer.assign(sorted(wanted))
        self.assigned, self.paused = wanted, set()
        self._idle_shown.clear()
        from_start = []
        for tp in sorted(wanted):
            if tp not in self.states:  # new to this process: resume after its stored head, if any
                head = await self.store.head(tp.topic, tp.partition)
                self.states[tp] = await self.state_after(tp.topic, tp.partition, head)
            st = self.states[tp]
            st.pending.clear()  # re-read from the last attested record: deterministic again
            if st.last_offset < 0:
                from_start.append(tp)
            else:
                self.consumer.seek(tp, st.last_offset + 1)
        if from_start:  # one offset reset for all (one per partition waits a fetch round each: minutes with 200 partitions)
            await self.consumer.seek_to_beginning(*from_start)
        # A vanished topic keeps its state: if it comes back (recreated), records at or below the
        # last attested offset are not attested again - the verifier judges them against the old ones.
        log.info("checkpointer assignment", extra={"partitions": len(wanted)})

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
            if tp in self.assigned:
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
                if tp not in self.assigned:
                    break  # topic gone: attest nothing more until it is back
                try:
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
        if tp not in self.assigned:
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
        if now - self._last_refresh >= self.refresh_s:
            await self.refresh_assignment()
        if now - self._last_retry >= 30:
            self._last_retry = now
            await self.republish()
        return seen

    async def run(self) -> None:
        """Chain and checkpoint while the rollout role is active. A preview colour (or one
        demoted) signs and publishes nothing: it waits, and when promoted resumes after the
        stored heads the other colour reached - the same path as a restart (`start`)."""
        backoff = 0.5
        state = role.current()
        while True:
            if not state.active:
                state.report(MEMBER, role.RELEASED)
                await state.until_active()
                await self.resume_from_store()
                state.report(MEMBER, role.CONSUMING)
                continue
            state.report(MEMBER, role.CONSUMING)
            try:
                await self.step()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store outage must not kill the service: retry, bounded backoff
                metrics.CHECKPOINT_FAILURES.labels("step").inc()
                log.warning("checkpointer step failed", extra={"error": exc.__class__.__name__})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
