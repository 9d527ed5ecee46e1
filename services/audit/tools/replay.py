"""Rebuilding the audit projections from the log into fresh targets and swapping them in.

Targets: a new generation N of ES indices (`<alias>-YYYY.MM-rN`, built with refresh off) and
Redis keys under `uf:replay:rN:`. Swap: one `_aliases` call moves the read alias, then one
MULTI/EXEC renames the rebuilt Redis keys over the live ones, records generation N as active
and releases the live projector. Readers see the old state or the new one, never a mix.

Sequence: pass 1 to the end offsets taken at the start (stored, so an interrupted replay resumes
from its last flushed batch), pass 2 catches up, then the live projectors are paused (Redis flag
with a TTL; each audit instance answers once idle, and the replay waits for every one whose lease
holds: `projection_gate`), pass 3 applies the last records, what is not rebuilt is
carried over from the live index (documents outside the filter, and documents whose records
retention already removed from the log), and the swap happens. The pause lasts pass 3 plus the
swap. A filtered replay rebuilds only matching documents and the Redis state of the workflows
they belong to (from all of those workflows' events: state is cumulative).
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from aiokafka import TopicPartition
from opensearchpy import AsyncOpenSearch
from opensearchpy.helpers import async_bulk, async_scan

from services.audit.live import es_layout
from services.audit.live.projection_gate import ACTIVE, PAUSE, PAUSE_ACKS, live_members, unanswered
from services.audit.live.projections import LIVE_PREFIX, document, history_key, redis_ops, touches_redis, wf_key
from services.audit.tools.replay_filter import ReplayFilter
from services.kit.contracts import codec, topics
from services.kit.contracts.keys import REPLAY_LOCK as LOCK
from services.kit.contracts.keys import REPLAY_SEQ as SEQ
from services.kit.contracts.keys import REPLAY_STATE as STATE
from services.kit.contracts.keys import replay_prefix as ns_prefix
from services.kit.messaging import logreader

LOCK_TTL_S = 120
PAUSE_TTL_S = 60
Progress = Callable[[str, int, int], None]
SwapPlan = dict[str, list[tuple[str, str]]]  # workflow id -> (rebuilt key, live key) renames


# Batches whose documents are being indexed at once. With one, the engine sat idle while this
# process decoded and serialised the next batch and the other way round: a replay used ~1.1 of
# the 2 cores (docs/benchmarks.md, sixth pass).
FLUSH_DEPTH = 3


async def _drain(in_flight: deque[asyncio.Task]) -> None:
    while in_flight:
        await in_flight.popleft()


# partitions per carry-over query (4 clauses each: well under the engine's 1024-clause limit)
CARRY_CHUNK = 200


class ReplayError(Exception):
    """The replay cannot start or continue (no PII in messages)."""


class ReplayInterrupted(ReplayError):
    """Stopped on purpose (`stop_after`): progress is stored, `--resume` continues."""


def _tp_key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


def _tp_of(key: str) -> TopicPartition:
    topic, partition = key.rsplit(":", 1)
    return TopicPartition(topic, int(partition))


class Replayer:
    def __init__(self, *, bootstrap: str, redis: aioredis.Redis, es: AsyncOpenSearch, alias: str,
                 consumer_group: str, progress: Progress | None = None, pause_wait_s: float = 15.0,
                 bulk_size: int = 2000) -> None:
        self.bootstrap, self.redis, self.es, self.alias = bootstrap, redis, es, alias
        self.consumer_group, self.progress, self.pause_wait_s, self.bulk_size = consumer_group, progress, pause_wait_s, bulk_size
        self.token = uuid.uuid4().hex
        self.state: dict[str, Any] = {}
        self._created: set[str] = set()
        self.notes: list[str] = []

    # --- state -------------------------------------------------------------------------------
    async def load_state(self) -> dict[str, Any]:
        raw = await self.redis.hgetall(STATE)
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    async def save(self, **fields: Any) -> None:
        self.state.update(fields)
        await self.redis.hset(STATE, mapping={k: json.dumps(v) for k, v in fields.items()})

    async def _lock(self) -> None:
        if not await self.redis.set(LOCK, self.token, nx=True, ex=LOCK_TTL_S):
            raise ReplayError("another replay is running (lock held); wait or let its lock expire")

    async def _keep_lock(self) -> None:
        if (await self.redis.get(LOCK) or b"").decode() != self.token:
            raise ReplayError("replay lock lost (another replay took over)")
        await self.redis.expire(LOCK, LOCK_TTL_S)

    async def _unlock(self) -> None:
        if (await self.redis.get(LOCK) or b"").decode() == self.token:
            await self.redis.delete(LOCK)

    async def abort(self) -> str:
        """Discard an unfinished replay: its Redis namespace and ES indices; the live state stays."""
        await self._lock()
        try:
            st = await self.load_state()
            if not st or st.get("phase") == "done":
                return "no unfinished replay"
            n = int(st["id"])
            await self._drop_namespace(n)
            await self.es.indices.delete(index=f"{self.alias}-*-r{n}", ignore=[404])
            await self.redis.delete(STATE)
            if (await self.redis.get(PAUSE) or b"").decode() == str(n):
                await self.redis.delete(PAUSE)
            return f"replay r{n} aborted"
        finally:
            await self._unlock()

    # --- main ----------------------------------------------------------------------------------
    async def run(self, flt: ReplayFilter, *, resume: bool = False, keep_old: bool = False,
                  stop_after: int | None = None) -> dict[str, Any]:
        await self._lock()
        try:
            return await self._run(flt, resume, keep_old, stop_after)
        finally:
            await self._unlock()

    async def _run(self, flt: ReplayFilter, resume: bool, keep_old: bool, stop_after: int | None) -> dict[str, Any]:
        started = time.monotonic()
        st = await self.load_state()
        if st and st.get("phase") != "done":
            same = ReplayFilter.from_json(st["filter"]) == flt
            if not (resume or same):
                raise ReplayError(f"replay r{st['id']} is unfinished with another filter: use --resume or --abort")
            self.state = st
            flt = ReplayFilter.from_json(st["filter"])
            self.notes.append(f"resuming replay r{st['id']}")
        elif resume:
            raise ReplayError("no unfinished replay to resume")
        else:
            active = int(await self.redis.get(ACTIVE) or 0)
            n = int(await self.redis.incr(SEQ))
            if n <= active:
                n = active + 1
                await self.redis.set(SEQ, n)
            self.state = {}
            await self.redis.delete(STATE)
            await self.save(id=n, filter=flt.to_json(), phase="build", positions={}, end={}, carried=False,
                            committed={}, started_at=int(time.time() * 1000))
        n = int(self.state["id"])
        prefix = ns_prefix(n)
        consumer = logreader.new_consumer(self.bootstrap)
        await consumer.start()
        counted = {"rebuilt": 0, "read": 0}
        try:
            tps = await logreader.partitions_of(consumer, topics.audited_topics())
            starts, ends = await logreader.bounds(consumer, tps)
            if not self.state["end"]:
                await self.save(end={_tp_key(tp): ends[tp] for tp in tps})
            if self.state["phase"] == "build":
                end1 = {tp: int(self.state["end"].get(_tp_key(tp), ends[tp])) for tp in tps}
                await self._pass(consumer, tps, end1, flt, n, prefix, "rebuild", counted, stop_after)
                _, end2 = await logreader.bounds(consumer, tps)
                await self._pass(consumer, tps, end2, flt, n, prefix, "catch-up", counted, None)
                if not self.state.get("carried"):
                    committed = await self._live_committed(tps)
                    await self.save(committed={_tp_key(tp): o for tp, o in committed.items()})
                    await self._carry_over(flt, n, starts, tps, delta=None)
                    await self.save(carried=True)
                await self.save(phase="swap")
            # --- prepare (outside the pause), pause the live projectors, apply the tail, swap ---
            plan = await self._prepare_swap(n, prefix)
            paused_at = time.monotonic()
            acked = await self._pause(n)
            if not acked:
                self.notes.append("no live projector is running: nothing to pause")
            _, end3 = await logreader.bounds(consumer, tps)
            touched: set[str] = set()
            await self._pass(consumer, tps, end3, flt, n, prefix, "final", counted, None, touched)
            if not flt.is_full:
                committed = {_tp_of(k): int(v) for k, v in (self.state.get("committed") or {}).items()}
                await self._carry_over(flt, n, starts, tps, delta=committed)
            swapped = await self._swap(n, prefix, keep_old, plan, touched)
            swapped["pause_seconds"] = round(swapped.pop("released_at") - paused_at, 3)
        finally:
            await consumer.stop()
        return {"replay": f"r{n}", "generation": n, "filter": flt.to_json(), "records_read": counted["read"],
                "documents_rebuilt": counted["rebuilt"], "seconds": round(time.monotonic() - started, 3),
                "notes": self.notes, **swapped}

    # --- passes ----------------------------------------------------------------------------------
    async def _pass(self, consumer, tps: list[TopicPartition], end: dict[TopicPartition, int], flt: ReplayFilter,
                    n: int, prefix: str, label: str, counted: dict[str, int], stop_after: int | None,
                    touched: set[str] | None = None) -> None:
        """Read `tps` from the stored positions to `end` into generation `n`; `touched` collects
        the workflows whose documents or Redis state this pass wrote."""
        positions = {tp: int(self.state["positions"].get(_tp_key(tp), 0)) for tp in tps}
        todo = [tp for tp in tps if positions[tp] < end.get(tp, 0)]
        if not todo:
            return
        start = {tp: positions[tp] for tp in todo if positions[tp] > 0}
        total = sum(end[tp] - positions[tp] for tp in todo)
        done = 0
        in_flight: deque[asyncio.Task] = deque()
        async for batch in logreader.read_batches(consumer, todo, end=end, start=start, timeout_s=3600):
            actions, pipe_ops, wfs = [], [], set()
            for tp, msgs in batch.items():
                for m in msgs:
                    try:
                        decoded = codec.decode(m.value)
                        doc = document(decoded, m)
                    except (codec.CodecError, KeyError, TypeError, ValueError):
                        continue  # the live path dead-letters these: not in the projection either
                    if touches_redis(decoded.event_type):
                        pipe_ops.append(doc)
                    if flt.matches(doc):
                        actions.append({"_index": await self._target(doc, n), "_id": doc["event_id"], "_source": doc})
                        wfs.add(doc["workflow_id"])
                positions[tp] = msgs[-1].offset + 1
                done += len(msgs)
            while len(in_flight) >= FLUSH_DEPTH:
                await in_flight.popleft()
            if touched is not None:
                touched.update(wfs, (d["workflow_id"] for d in pipe_ops))
            snapshot = {_tp_key(tp): o for tp, o in positions.items()}
            in_flight.append(asyncio.ensure_future(
                self._flush(actions, pipe_ops, wfs, prefix, snapshot, after=in_flight[-1] if in_flight else None)))
            counted["rebuilt"] += len(actions)
            counted["read"] += sum(len(v) for v in batch.values())
            if self.progress:
                self.progress(label, done, total)
            if stop_after is not None and counted["read"] >= stop_after:
                await _drain(in_flight)
                raise ReplayInterrupted(f"stopped after {counted['read']} records; resume with --resume")
        await _drain(in_flight)

    async def _flush(self, actions: list[dict[str, Any]], docs: list[dict[str, Any]], wfs: set[str], prefix: str,
                     positions: dict[str, int], after: asyncio.Task | None = None) -> None:
        """Index one batch, then - once the batch before it (`after`) is done - apply its Redis
        changes and store its positions: the documents of up to FLUSH_DEPTH batches are indexed
        at once, the Redis state and the resume point advance in log order."""
        if actions:
            # two bulk requests at a time: indexing into one shard still uses both write threads
            step = max(1, min(self.bulk_size, (len(actions) + 1) // 2))
            results = await asyncio.gather(*(async_bulk(self.es, actions[i:i + step], chunk_size=step, raise_on_error=False,
                                                        max_retries=3) for i in range(0, len(actions), step)))
            errors = sum(len(e) for _, e in results if isinstance(e, list))
            if errors:
                raise ReplayError(f"{errors} document(s) refused by OpenSearch")
        if after is not None:
            await after
        if docs or wfs:
            async with self.redis.pipeline(transaction=False) as pipe:
                for d in docs:
                    redis_ops(pipe, d, prefix=prefix)
                if wfs:
                    pipe.sadd(f"{prefix}workflows", *wfs)
                await pipe.execute()
        positions = {**self.state["positions"], **positions}
        await self.save(positions=positions)
        await self._keep_lock()

    async def _target(self, doc: dict[str, Any], n: int) -> str:
        name = es_layout.index_name(self.alias, doc["occurred_at"], n)
        if name not in self._created:
            await es_layout.ensure_index(self.es, name, None, refresh_interval="-1")
            self._created.add(name)
        return name

    # --- carry-over ------------------------------------------------------------------------------
    async def _live_committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where the live projector had got to: documents it writes later have offsets >= these."""
        c = logreader.new_consumer(self.bootstrap, group_id=self.consumer_group)
        await c.start()
        try:
            return {tp: int(await c.committed(tp) or 0) for tp in tps}
        finally:
            await c.stop()

    @staticmethod
    def _carry_queries(flt: ReplayFilter, starts: dict[TopicPartition, int], tps: list[TopicPartition],
                       delta: dict[TopicPartition, int] | None) -> list[dict[str, Any]]:
        """The documents to carry over, as queries whose results are disjoint. One clause per
        partition would pass the engine's limit on clauses in one query (1024, counted over the
        whole query tree since Lucene 9 / OpenSearch 2) on a cluster with many topics, so the
        per-partition clauses are split into chunks of CARRY_CHUNK partitions, one query each."""
        def per_tp(tp: TopicPartition, rng: dict[str, int]) -> dict[str, Any]:
            return {"bool": {"filter": [{"term": {"topic": tp.topic}}, {"term": {"partition": tp.partition}},
                                        {"range": {"offset": rng}}]}}

        if delta is None:
            clauses = [per_tp(tp, {"lt": starts[tp]}) for tp in tps if starts.get(tp, 0) > 0]
            chunks = [clauses[i:i + CARRY_CHUNK] for i in range(0, len(clauses), CARRY_CHUNK)] or [[]]
            # documents of no replayed topic, and (filtered replay) those the filter leaves alone:
            # asked once, in the first query; the later chunks exclude them so nothing comes twice
            rest = [{"bool": {"must_not": [{"terms": {"topic": sorted({tp.topic for tp in tps})}}]}}]
            if not flt.is_full:
                rest.append({"bool": {"must_not": [flt.es_query()]}})
            queries = [{"bool": {"should": [*chunks[0], *rest], "minimum_should_match": 1}}]
            # a later chunk's documents are of replayed topics; those the filter leaves alone came already
            only_filtered = [] if flt.is_full else [flt.es_query()]
            queries += [{"bool": {"should": chunk, "minimum_should_match": 1, "filter": only_filtered}} for chunk in chunks[1:]]
            return queries
        recent = [per_tp(tp, {"gte": off}) for tp, off in delta.items()]
        return [{"bool": {"must_not": [flt.es_query()], "should": recent[i:i + CARRY_CHUNK], "minimum_should_match": 1}}
                for i in range(0, len(recent), CARRY_CHUNK)]

    async def _carry_over(self, flt: ReplayFilter, n: int, starts: dict[TopicPartition, int], tps: list[TopicPartition],
                          delta: dict[TopicPartition, int] | None) -> None:
        if not await es_layout.alias_indices(self.es, self.alias):
            return
        queries = self._carry_queries(flt, starts, tps, delta)

        async def actions():
            for query in queries:
                async for hit in async_scan(self.es, index=self.alias, query={"query": query}, size=2000):
                    doc = hit["_source"]
                    yield {"_index": await self._target(doc, n), "_id": hit["_id"], "_source": doc}

        ok, errors = await async_bulk(self.es, actions(), chunk_size=self.bulk_size, raise_on_error=False)
        if errors:
            raise ReplayError(f"{len(errors)} document(s) refused while carrying over")
        if ok:
            self.notes.append(f"carried over {ok} document(s) from the live index ({'delta' if delta else 'not rebuilt'})")

    # --- pause and swap ----------------------------------------------------------------------------
    async def _pause(self, n: int) -> bool:
        """Hold every live projector; True once each one whose lease holds has answered, False
        when none is running (nothing writes: the swap may go ahead). A live projector that does
        not answer in time (a write stuck in flight) fails the replay, pause released and state
        kept for `--resume`: swapping past a writer could drop its write with the old index."""
        await self.redis.delete(PAUSE_ACKS)
        await self.redis.set(PAUSE, str(n), ex=PAUSE_TTL_S)
        deadline = time.monotonic() + self.pause_wait_s
        while True:
            waiting = await unanswered(self.redis, str(n))
            if not waiting:
                members = await live_members(self.redis)
                if members:
                    self.notes.append(f"{len(members)} live projector(s) paused")
                return bool(members)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        if (await self.redis.get(PAUSE) or b"").decode() == str(n):
            await self.redis.delete(PAUSE)
        raise ReplayError(f"{len(waiting)} live projector(s) did not answer the pause within {self.pause_wait_s:g} s "
                          "(a write in flight?); nothing swapped - run the replay again with --resume")

    async def _new_indices(self, n: int) -> list[str]:
        res = await self.es.indices.get(index=f"{self.alias}-*-r{n}", ignore=[404])
        new_indices = sorted(k for k in res if isinstance(res.get(k), dict) and k.endswith(f"-r{n}"))
        if not new_indices:
            name = es_layout.index_name(self.alias, int(time.time() * 1000), n)
            await es_layout.ensure_index(self.es, name, None)
            new_indices = [name]
        return new_indices

    async def _searchable(self, n: int) -> list[str]:
        """The rebuilt indices with the live refresh interval, refreshed (not yet behind the alias)."""
        new_indices = await self._new_indices(n)
        await self.es.indices.put_settings(index=",".join(new_indices), body={"index": {"refresh_interval": es_layout.SETTINGS["refresh_interval"]}})
        await self.es.indices.refresh(index=",".join(new_indices))
        return new_indices

    async def _prepare_swap(self, n: int, prefix: str) -> SwapPlan:
        """What the swap needs, worked out before the pause so that the pause holds the live
        projectors only for the tail: the bulk of the rebuilt documents made searchable (refreshing
        everything inside the pause took ~0.8 s for 36k documents), and the Redis renames and
        carried-over fields of every workflow rebuilt so far (~1.4 s for 1,040 workflows). The
        swap redoes the plan only for workflows the final pass touches."""
        async def plan() -> SwapPlan:
            return await self._plan(prefix, {m.decode() for m in await self.redis.smembers(f"{prefix}workflows")})

        _, planned = await asyncio.gather(self._searchable(n), plan())  # the engine and Redis, side by side
        return planned

    async def _plan(self, prefix: str, ids: set[str]) -> SwapPlan:
        """Per workflow: the rebuilt keys to rename over the live ones; live fields the rebuild
        lacks (e.g. the requester after retention) are copied into the rebuilt state now."""
        plan: SwapPlan = {}
        if not ids:
            return plan
        order = sorted(ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for wf in order:
                pipe.exists(wf_key(wf, prefix))
                pipe.exists(history_key(wf, prefix))
                pipe.hgetall(wf_key(wf, LIVE_PREFIX))
                pipe.hgetall(wf_key(wf, prefix))
            answers = await pipe.execute()
        fills: dict[str, dict[bytes, bytes]] = {}
        for i, wf in enumerate(order):
            has_state, has_hist, live, fresh = answers[4 * i: 4 * i + 4]
            renames: list[tuple[str, str]] = []
            if has_state:
                renames.append((wf_key(wf, prefix), wf_key(wf, LIVE_PREFIX)))
                missing = {k: v for k, v in live.items() if k not in fresh}
                if missing:
                    fills[wf] = missing
            if has_hist:
                renames.append((history_key(wf, prefix), history_key(wf, LIVE_PREFIX)))
            plan[wf] = renames
        if fills:
            async with self.redis.pipeline(transaction=False) as pipe:
                for wf, missing in fills.items():
                    pipe.hset(wf_key(wf, prefix), mapping=missing)
                await pipe.execute()
        return plan

    async def _swap(self, n: int, prefix: str, keep_old: bool, plan: SwapPlan, touched: set[str]) -> dict[str, Any]:
        """Inside the pause: the tail made searchable, the alias moved, then one MULTI renames the
        rebuilt Redis keys, records generation n and releases the live projectors."""
        await self.redis.expire(PAUSE, PAUSE_TTL_S)
        new_indices = await self._searchable(n)
        left = await es_layout.swap_alias(self.es, self.alias, new_indices)
        rebuilt = {m.decode() for m in await self.redis.smembers(f"{prefix}workflows")}
        plan = {wf: r for wf, r in plan.items() if wf in rebuilt}
        plan.update(await self._plan(prefix, (rebuilt - plan.keys()) | (touched & rebuilt)))
        renames = [r for wf in sorted(plan) for r in plan[wf]]
        async with self.redis.pipeline(transaction=True) as pipe:
            for src, dst in renames:
                pipe.rename(src, dst)
            pipe.set(ACTIVE, n)
            pipe.hset(STATE, mapping={"phase": json.dumps("done"), "finished_at": json.dumps(int(time.time() * 1000))})
            pipe.delete(PAUSE)
            await pipe.execute()
        released_at = time.monotonic()
        await self._drop_namespace(n)
        if left and not keep_old:
            # No wait before dropping: every live projector answered the pause with nothing in
            # flight and reads generation and pause in one MGET, so none writes into a retired
            # index after the MULTI; and everything in the log when the pause was answered is in
            # the new generation through the final pass.
            await self.es.indices.delete(index=",".join(left), ignore=[404])
        return {"indices": new_indices, "retired_indices": left, "deleted_retired": bool(left and not keep_old),
                "workflows_replaced": sum(1 for r in plan.values() if r), "released_at": released_at}

    async def _drop_namespace(self, n: int) -> None:
        batch: list[bytes] = []
        async for key in self.redis.scan_iter(match=f"{ns_prefix(n)}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self.redis.delete(*batch)
                batch = []
        if batch:
            await self.redis.delete(*batch)
