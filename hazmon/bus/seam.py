"""What hazmon's consuming services (ingest, the alarm service) need of a message bus,
whatever carries it: a `Link`, which hands them messages in batches and takes their
acknowledgements, and `open_link`, the one way a service gets one.

    link = open_link(broker, settings, client_id=..., topics=[...], consumer=take)
    await link.connect(); await link.subscribed()
    ...                           # take(items) runs on the link's own thread
    link.ack(items)               # from any thread, once what they caused is durable
    link.publish(topic, payload)  # (a link opened with publishing=True)
    link.close()

The rules every implementation keeps:

- Delivery: `consumer(items)` is called on the link's own thread, one batch at a time,
  the messages in the order they came; while it runs, no other batch is taken from
  the bus (backpressure: the bus keeps the rest). A consumer that raises has its
  batch left unacknowledged: the bus delivers it again.
- `Inbound.topic` is the MQTT-style topic (`hazmon/v1/{site}/{gateway}/telemetry`),
  whatever the transport calls it; `token` is the transport's handle to acknowledge
  the message (None: there is nothing to acknowledge); `retained` marks a retained
  message a subscription brought.
- At least once: a message is acknowledged only by `ack`, which any thread may call,
  after what the message caused is durable. An acknowledgement that can no longer
  mean anything (a token of an earlier connection) is dropped: the bus delivers the
  message again. So a consumer must recognise repeats (docs/alarms.md,
  "Deduplication and order").
- `close()`: no consumer call starts after it; the one in progress finishes first.
  What was not acknowledged stays with the bus for the next session.
- `publish` is fire-and-forget at least once; `publish_confirmed` waits for the bus
  to have it. Both raise the transport's error (a HazmonError) when they cannot.

`open_link` returns the MQTT link (hazmon.bus.consumer.MqttLink) for `mqtt://`, the
JetStream link (hazmon.bus.jetstream_link.JetStreamLink) for `nats://`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from hazmon.contract.settings import BrokerAddress, NatsAddress, Settings


class Inbound(NamedTuple):
    """One delivered message."""

    topic: str  # MQTT-style topic with slashes, whatever the transport
    payload: bytes
    token: object  # the transport's handle to acknowledge it; None: nothing to acknowledge
    retained: bool = False  # a retained message a subscription brought


Consumer = Callable[[list[Inbound]], None]  # called on the link's own thread, a batch at a time


class Link(Protocol):
    @property
    def connected(self) -> bool:
        """Whether messages can flow now (for health checks)."""

    async def connect(self, *, attempts: int = 5, timeout_s: float = 10.0) -> None:
        """Connect, retrying `attempts` times with jittered backoff; the consumer may
        be called from now on (a resumed session delivers at once)."""

    async def subscribed(self) -> None:
        """Returns once the subscriptions are in place; raises if they were refused."""

    def ack(self, items: Sequence[Inbound]) -> None:
        """Acknowledge delivered messages (any thread, after what they caused is durable)."""

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish without waiting (at least once)."""

    async def publish_confirmed(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        """Publish and wait until the bus has it."""

    def close(self) -> None:
        """Stop: after the consumer call in progress, if any; then disconnect."""


def open_link(
    broker: BrokerAddress | NatsAddress,
    settings: Settings | None,
    *,
    client_id: str,
    topics: Sequence[str],
    consumer: Consumer,
    publishing: bool = False,
    gather_s: float = 0.0,
) -> Link:
    """The link a service consumes `topics` through, with its session under
    `client_id`; `publishing`: it publishes too (on a connection of its own);
    `gather_s`: on MQTT, after a socket read of few messages, wait this long before
    the next, so that the next read takes what came meanwhile (`MqttLink`). On a
    JetStream cluster (`NatsAddress`) the link is a replica of the durable consumer
    `ingest` (hazmon.bus.jetstream_link): every gateway message, whatever `topics`."""
    from hazmon.contract.settings import NatsAddress

    if isinstance(broker, NatsAddress):
        from hazmon.bus.jetstream import default_plan, load_plan
        from hazmon.bus.jetstream_link import JetStreamLink

        secret = settings.mqtt_secret() if settings is not None else None
        return JetStreamLink(
            broker.servers, consumer=consumer, name=client_id,
            user=settings.mqtt_username if settings is not None else None, password=secret,
            plan=load_plan(settings.streams_file, servers=len(broker.servers))
            if settings is not None and settings.streams_file is not None
            else default_plan(len(broker.servers)),
        )
    from hazmon.bus.consumer import MqttLink
    from hazmon.bus.mqtt import MqttOptions

    opts = MqttOptions.build(broker, settings, client_id=client_id)
    return MqttLink(opts, topics=topics, consumer=consumer, publishing=publishing,
                    gather_s=gather_s)
