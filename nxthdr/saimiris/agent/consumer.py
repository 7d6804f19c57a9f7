"""The probes topic to send jobs: one aiokafka consumer in the agent's own group, manual commits.

Every record is read; the ones without a header for this agent are done at
once. An offset is committed only when the records before it are done, i.e.
their probes were sent (or dropped and counted), so a crash re-sends rather
than loses. When an instance has more than its queue limit of probes waiting,
every partition is paused (the consumer keeps polling, so it stays in the
group) until the queue drains: back-pressure, never a drop.
"""

from __future__ import annotations

import asyncio
import logging

from nxthdr.core import logs
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.agent.instances import InstanceTable, NoInstance
from nxthdr.saimiris.agent.messages import Cancel, Ignore, MessageError, classify
from nxthdr.saimiris.agent.offsets import OffsetTracker
from nxthdr.saimiris.agent.sender import InstanceSender, Job, SenderCounters
from nxthdr.saimiris.agent.tracking import Measurements

log = logging.getLogger("nxthdr.saimiris.agent.consumer")


class ProbeConsumer:
    name = "kafka-consumer"

    def __init__(self, settings: KafkaSettings, topics: list[str], group: str, agent_id: str, table: InstanceTable,
                 senders: dict[str, InstanceSender], queue_limits: dict[str, int], measurements: Measurements,
                 counters: SenderCounters, metrics: Metrics, commit_interval: float = 1.0) -> None:
        self.settings = settings
        self.topics = topics
        self.group = group
        self.agent_id = agent_id
        self.table = table
        self.senders = senders
        self.queue_limits = queue_limits
        self.measurements = measurements
        self.counters = counters
        self.commit_interval = commit_interval
        self.tracker = OffsetTracker()
        self._consumer = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._paused = False
        self._connected = False
        self._last_error = ""
        self._errors = logs.RateLimited(log)
        self.records = metrics.fast_counter("consumer_records_total",
                                            "Probe-topic records, by outcome (not_for_us, probes, cancel, "
                                            "invalid_header, invalid_probes, no_instance)", ("outcome",))
        self.commits = metrics.fast_counter("consumer_commits_total", "Offset commits, by outcome", ("status",))
        self.pauses = metrics.fast_counter("consumer_pauses_total", "Times consumption paused for a full send queue")
        metrics.callback_gauge("consumer_paused", "1 while consumption is paused (send queue full)", (),
                               lambda: [((), 1.0 if self._paused else 0.0)])
        metrics.callback_gauge("consumer_assigned_partitions", "Partitions of the probes topics assigned", (),
                               lambda: [((), float(len(self._assignment())))])
        metrics.callback_gauge("consumer_pending_records", "Records read whose probes are not all sent", (),
                               lambda: [((), float(self.tracker.pending))])
        metrics.add_health("kafka-consumer", self._health)

    def _assignment(self) -> set:
        try:
            return set(self._consumer.assignment()) if self._consumer is not None else set()
        except Exception:
            return set()

    def _health(self) -> tuple[bool, str]:
        if not self._connected:
            return False, f"not connected to {self.settings.brokers}: {self._last_error or 'connecting'}"
        parts = len(self._assignment())
        return True, f"{parts} partitions assigned" + (", paused (send queue full)" if self._paused else "")

    @property
    def ready(self) -> bool:
        """Connected with partitions assigned: records published from now on are seen."""
        return self._connected and bool(self._assignment())

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="kafka-consumer")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        except (asyncio.TimeoutError, Exception):
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await self._commit(consumer)
            try:
                await asyncio.wait_for(consumer.stop(), 10)
            except Exception:
                pass
        self._connected = False

    async def _connect(self):
        from aiokafka import AIOKafkaConsumer
        from aiokafka.abc import ConsumerRebalanceListener

        tracker, commit = self.tracker, self._commit

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                if consumer_ref:
                    await commit(consumer_ref[0], only=set(revoked))
                tracker.forget(revoked)

            async def on_partitions_assigned(self, assigned):
                logs.event(log, logging.INFO, "partitions assigned", partitions=len(assigned))

        consumer_ref: list = []
        backoff = 0.2
        while not self._stopping:
            consumer = AIOKafkaConsumer(**self.settings.client_kwargs(), group_id=self.group,
                                        enable_auto_commit=False, auto_offset_reset="latest",
                                        max_partition_fetch_bytes=max(self.settings.message_max_bytes + 65536,
                                                                      1048576))
            try:
                await consumer.start()
                consumer.subscribe(self.topics, listener=Listener())
            except Exception as e:
                self._last_error = str(e) or type(e).__name__
                try:
                    await consumer.stop()
                except Exception:
                    pass
                logs.event(log, logging.WARNING, "cannot connect to Kafka, retrying", brokers=self.settings.brokers,
                           error=self._last_error, retry_in_s=round(backoff, 1))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            consumer_ref.append(consumer)
            logs.event(log, logging.INFO, "consuming probes", topics=",".join(self.topics), group=self.group)
            return consumer
        return None

    async def _run(self) -> None:
        consumer = await self._connect()
        if consumer is None:
            return
        self._consumer = consumer
        self._connected = True
        loop = asyncio.get_running_loop()
        last_commit = loop.time()
        while not self._stopping:
            self._apply_backpressure(consumer)
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=20)
            except Exception as e:  # the consumer reconnects by itself; say so and go on
                self._last_error = str(e) or type(e).__name__
                self._errors.event("fetch", logging.WARNING, "fetch failed", error=self._last_error)
                await asyncio.sleep(0.5)
                continue
            for tp, records in batches.items():
                for record in records:
                    self.tracker.add(tp, record.offset)
                    self.handle(tp, record)
            if loop.time() - last_commit >= self.commit_interval:
                await self._commit(consumer)
                last_commit = loop.time()

    def _apply_backpressure(self, consumer) -> None:
        full = any(s.queued_probes >= self.queue_limits[name] for name, s in self.senders.items())
        if full and not self._paused:
            consumer.pause(*consumer.assignment())
            self._paused = True
            self.pauses.inc(())
        elif not full and self._paused:
            consumer.resume(*consumer.paused())
            self._paused = False
        elif full:  # partitions assigned since the pause
            consumer.pause(*consumer.assignment())

    async def _commit(self, consumer, only: set | None = None) -> None:
        positions = self.tracker.committable()
        if only is not None:
            positions = {tp: p for tp, p in positions.items() if tp in only}
        if not positions:
            return
        from aiokafka.structs import OffsetAndMetadata

        try:
            await consumer.commit({tp: OffsetAndMetadata(p, "") for tp, p in positions.items()})
        except Exception as e:
            self.commits.inc(("failure",))
            self._errors.event("commit", logging.WARNING, "offset commit failed", error=str(e) or type(e).__name__)
            return
        self.tracker.committed(positions)
        self.commits.inc(("success",))

    # -- one record -----------------------------------------------------------------------------

    def handle(self, tp, record) -> None:
        """Act on one record; never raises (a broken record is counted, logged and done)."""
        offset = record.offset
        try:
            decision = classify(record.key, record.value, record.headers, self.agent_id)
        except MessageError as e:
            self.records.inc((f"invalid_{e.kind}",))
            self._errors.event(e.kind, logging.WARNING, "invalid probe record", topic=tp.topic,
                               partition=tp.partition, offset=offset, error=str(e))
            self.tracker.done(tp, offset)
            return
        if isinstance(decision, Ignore):
            self.records.inc(("not_for_us",))
            self.tracker.done(tp, offset)
            return
        header = decision.header
        mid = header.measurement_id
        if isinstance(decision, Cancel):
            self.records.inc(("cancel",))
            logs.event(log, logging.INFO, "measurement cancelled", measurement=mid)
            self.measurements.cancel(mid)
            self.tracker.done(tp, offset)
            return
        probes = decision.probes
        self.counters.add_read(len(probes))
        if self.measurements.is_cancelled(mid):
            self.records.inc(("probes",))
            self.counters.add_filtered("cancelled", len(probes))
            self.tracker.done(tp, offset)
            return
        try:
            source = self.table.select(header.src_ip)
        except NoInstance as e:
            self.records.inc(("no_instance",))
            self.counters.add_filtered("no_instance", len(probes))
            self._errors.event("no_instance", logging.WARNING, "probes dropped", measurement=mid, error=str(e))
            self.measurements.done(mid, 0, header.end_of_measurement)
            self.tracker.done(tp, offset)
            return
        self.records.inc(("probes",))
        loop = asyncio.get_running_loop()

        def finished(job: Job) -> None:  # in the sender thread
            try:
                loop.call_soon_threadsafe(self._job_done, tp, offset, job)
            except RuntimeError:  # the loop is closing: not committed, Kafka redelivers the record
                pass

        self.senders[source.instance.name].submit(Job(mid, probes, source, header.end_of_measurement, finished))

    def _job_done(self, tp, offset: int, job: Job) -> None:
        self.tracker.done(tp, offset)
        self.measurements.job_done(job)
