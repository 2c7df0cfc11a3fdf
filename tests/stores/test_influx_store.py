"""InfluxStore: the store contract against a real InfluxDB 1.6, and its error handling."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from hazmon.contract.settings import InfluxAddress, Settings
from hazmon.stores import Point, StoreRejected, StoreUnavailable
from hazmon.stores.influx import InfluxStore, gunzip_lines
from hazmon.testing.servers import InfluxDB
from tests.stores.store_contract import T0_MS, StoreContract, alarm_point, reading


@pytest.mark.integration
class TestInfluxStore(StoreContract):
    @pytest.fixture
    def store(self, influxdb: InfluxDB, influx_db: str) -> Iterator[InfluxStore]:
        store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
        yield store
        store.close()

    def test_rows_are_where_influxql_finds_them(
        self, store: InfluxStore, influxdb: InfluxDB, influx_db: str
    ) -> None:
        store.write_readings([reading(ts_ms=T0_MS + i) for i in range(7)])
        assert influxdb.count(influx_db, "reading", "value") == 7

    def test_a_bad_line_is_refused_and_the_others_written(
        self, store: InfluxStore, influxdb: InfluxDB, influx_db: str
    ) -> None:
        # `state` becomes a float field in this shard: an interlock's string state conflicts
        influxdb.write(influx_db, f"reading,sensor=X,site=s0 state=1.0 {T0_MS}")
        batch = [reading(ts_ms=T0_MS + i, value=float(i)) for i in range(99)]
        batch.insert(40, reading("ESD-01", T0_MS, None, kind="interlock", state="tripped"))
        with pytest.raises(StoreRejected) as caught:
            store.write_readings(batch)
        (refused,) = caught.value.refused
        assert "ESD-01" in refused.item and "conflict" in refused.reason
        assert influxdb.count(influx_db, "reading", "value") == 99

    def test_gzip_and_plain_bodies_are_both_stored(
        self, store: InfluxStore, influxdb: InfluxDB, influx_db: str
    ) -> None:
        zipped = InfluxStore(InfluxAddress(influxdb.url, influx_db),
                             settings=Settings(influx_gzip="on"))
        try:
            assert zipped.gzip and not store.gzip  # on this host: plain unless asked
            zipped.write_readings([reading(ts_ms=T0_MS + i) for i in range(3)])
            store.write_readings([reading(ts_ms=T0_MS + 10 + i) for i in range(4)])
            store.write_packed(store.for_spool(store.pack([reading(ts_ms=T0_MS + 20)], ())))
            assert influxdb.count(influx_db, "reading", "value") == 8
        finally:
            zipped.close()

    def test_a_missing_database_is_created(self, influxdb: InfluxDB, unique_id: str) -> None:
        name = f"hazmon_new_{unique_id}"
        store = InfluxStore(InfluxAddress(influxdb.url, name))
        try:
            store.write_readings([reading()])
            assert influxdb.count(name, "reading", "value") == 1
        finally:
            store.close()
            influxdb.drop_database(name)


def test_an_unreachable_server_is_unavailable() -> None:
    store = InfluxStore(InfluxAddress("http://127.0.0.1:1", "db"), timeout_s=1.0)
    with pytest.raises(StoreUnavailable):
        store.write_readings([reading()])
    assert store.ping() is False


# -- against a scripted server (httpx.MockTransport) -------------------------------------


def scripted(handler: httpx.MockTransport, settings: Settings | None = None) -> InfluxStore:
    return InfluxStore(
        InfluxAddress("http://influx.test", "db"), settings=settings, transport=handler
    )


@pytest.mark.parametrize("status", [500, 503, 429, 401])
def test_server_errors_are_unavailable(status: int) -> None:
    store = scripted(httpx.MockTransport(lambda _req: httpx.Response(status, text="no")))
    with pytest.raises(StoreUnavailable):
        store.write_readings([reading()])


def test_writes_are_gzip_line_protocol_in_ms() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    scripted(httpx.MockTransport(handler)).write_readings([reading(), reading("GT-102")])
    (request,) = seen
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "db", "precision": "ms"}
    assert request.headers["content-encoding"] == "gzip"
    lines = gunzip_lines(request.content)
    assert lines[0] == (
        f"reading,gateway=gw1,kind=combustible_gas,quality=good,sensor=GT-101,site=s1 "
        f"value=12.5 {T0_MS}"
    )
    assert len(lines) == 2


def test_a_token_is_sent_as_a_token_header() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    settings = Settings(influx_token=SecretStr("s3cret"))
    scripted(transport, settings).write_readings([reading()])
    assert seen[0].headers["authorization"] == "Token s3cret"
    assert "s3cret" not in str(seen[0].url)


def test_user_and_password_are_sent_as_basic_credentials() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    settings = Settings(influx_username="ingest", influx_password=SecretStr("pw"))
    scripted(transport, settings).write_readings([reading()])
    assert seen[0].headers["authorization"] == httpx.BasicAuth("ingest", "pw")._auth_header
    assert "pw" not in str(seen[0].url)


def test_a_refused_batch_is_split_until_the_bad_line_is_alone() -> None:
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        lines = gunzip_lines(request.content)
        if any("BAD" in text for text in lines):
            return httpx.Response(400, json={"error": "partial write: conflict dropped=1"})
        return httpx.Response(204)

    batch = [reading(ts_ms=T0_MS + i) for i in range(1024)]
    batch[700] = reading("BAD")
    with pytest.raises(StoreRejected) as caught:
        scripted(httpx.MockTransport(handler)).write_readings(batch)
    assert [r.item.split(",")[4] for r in caught.value.refused] == ["sensor=BAD"]
    assert requests == 1 + 2 * 10  # the whole batch, then two halves per level


def test_a_batch_that_is_all_refused_is_not_split() -> None:
    requests = 0

    def handler(_request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(400, json={"error": "partial write: type conflict dropped=8"})

    with pytest.raises(StoreRejected) as caught:
        scripted(httpx.MockTransport(handler)).write_readings(
            [reading(ts_ms=T0_MS + i) for i in range(8)]
        )
    assert len(caught.value.refused) == 8
    assert requests == 1


def test_a_point_without_fields_is_refused_alone() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    with pytest.raises(StoreRejected) as caught:
        scripted(transport).write_points(
            [alarm_point(T0_MS, note=None), alarm_point(T0_MS + 1, note="x")]
        )
    assert len(caught.value.refused) == 1
    assert len(gunzip_lines(seen[0].content)) == 1


@pytest.mark.integration
def test_a_tag_key_that_appears_later_is_still_a_tag(influxdb: InfluxDB, influx_db: str) -> None:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    try:
        store.write_points([Point("ingest_stats", {"instance": "a"}, {"readings_in": 1}, T0_MS)])
        assert store.points("ingest_stats", from_ms=T0_MS, to_ms=T0_MS)[0].tags == {"instance": "a"}
        store.write_points(
            [
                Point(
                    "ingest_stats",
                    {"instance": "a", "reason": "not_json"},
                    {"rejected": 2},
                    T0_MS + 1,
                )
            ]
        )
        newest = store.points("ingest_stats", from_ms=T0_MS, to_ms=T0_MS + 1)[0]
        assert newest.tags == {"instance": "a", "reason": "not_json"}
        assert newest.fields == {"rejected": 2}
    finally:
        store.close()


def _recorded(url: str, settings: Settings | None = None
              ) -> tuple[InfluxStore, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    return InfluxStore(InfluxAddress(url, "db"), settings=settings, transport=transport), seen


@pytest.mark.parametrize("url", ["http://127.0.0.1:8086", "http://localhost:8086",
                                 "http://[::1]:8086", "http://127.0.0.2:8086"])
def test_on_this_host_bodies_are_plain_and_the_spool_keeps_them_gzipd(url: str) -> None:
    store, seen = _recorded(url)
    store.write_readings([reading(), reading("GT-102")])
    assert "content-encoding" not in seen[0].headers
    assert seen[0].content.decode().split("\n") == gunzip_lines(seen[0].content)
    assert len(gunzip_lines(seen[0].content)) == 2
    blob = store.pack([reading()], ())
    kept = store.for_spool(blob)
    assert kept[:2] == b"\x1f\x8b" and gunzip_lines(kept) == gunzip_lines(blob)
    store.write_packed(kept)  # a spooled batch goes out gzip'd, said so
    assert seen[-1].headers["content-encoding"] == "gzip"
    assert gunzip_lines(seen[-1].content) == gunzip_lines(blob)


@pytest.mark.parametrize(("url", "choice", "gzip"), [
    ("http://influx.example:8086", "auto", True),
    ("http://10.0.0.5:8086", "auto", True),
    ("http://127.0.0.1:8086", "on", True),
    ("http://influx.example:8086", "off", False),
])
def test_hazmon_influx_gzip_chooses(url: str, choice: str, gzip: bool) -> None:
    store, seen = _recorded(url, Settings(influx_gzip=choice))  # type: ignore[arg-type]
    store.write_readings([reading()])
    assert ("content-encoding" in seen[0].headers) is gzip
    assert store.for_spool(store.pack([reading()], ()))[:2] == b"\x1f\x8b"


def test_a_refused_plain_batch_is_split_plain() -> None:
    bodies: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request)
        if b"BAD" in request.content:
            return httpx.Response(400, json={"error": "partial write: conflict dropped=1"})
        return httpx.Response(204)

    store = InfluxStore(InfluxAddress("http://127.0.0.1:8086", "db"),
                        transport=httpx.MockTransport(handler))
    with pytest.raises(StoreRejected) as caught:
        store.write_readings([reading(ts_ms=T0_MS + i) for i in range(7)] + [reading("BAD")])
    assert [r.item.split(",")[4] for r in caught.value.refused] == ["sensor=BAD"]
    assert all("content-encoding" not in r.headers for r in bodies)
