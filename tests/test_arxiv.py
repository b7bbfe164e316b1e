"""The optional arXiv source against a stub of the arXiv query API on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from rea.memory.arxiv import ArxivClient, ArxivError, build_query, parse_feed
from rea.trainers.errors import ReaError

# Shaped like a real export.arxiv.org answer (namespaces, opensearch, arxiv extensions, links).
FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Actr&amp;id_list%3D&amp;start%3D0&amp;max_results%3D2" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:ctr&amp;id_list=&amp;start=0&amp;max_results=2</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-05-01T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1520</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">2</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/2304.00902v4</id>
    <updated>2023-06-01T08:00:00Z</updated>
    <published>2023-04-03T11:52:21Z</published>
    <title>FinalMLP: An Enhanced Two-Stream MLP Model for CTR
      Prediction</title>
    <summary>  A stub abstract about two MLP streams,
  feature gating and bilinear fusion.
</summary>
    <author><name>Kelong Mao</name></author>
    <author><name>Jieming Zhu</name></author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">Accepted by AAAI 2023</arxiv:comment>
    <link href="http://arxiv.org/abs/2304.00902v4" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2304.00902v4" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.IR" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.IR" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2008.13535v2</id>
    <updated>2020-10-20T00:00:00Z</updated>
    <published>2020-08-19T17:09:12Z</published>
    <title>DCN V2: Improved Deep &amp; Cross Network</title>
    <summary>Another stub abstract.</summary>
    <author><name>Ruoxi Wang</name></author>
    <link href="http://arxiv.org/abs/2008.13535v2" rel="alternate" type="text/html"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""

ERROR_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>ArXiv Query: error</title>
  <id>http://arxiv.org/api/error</id>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>
    <title>Error</title>
    <summary>incorrect id format for 1234</summary>
    <updated>2024-05-01T00:00:00-04:00</updated>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>
"""


class StubArxiv:
    """A tiny HTTP server that answers GET /api/query with a scripted (status, body, delay)."""

    def __init__(self) -> None:
        self.status, self.body, self.delay = 200, FEED, 0.0
        self.queries: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                outer.queries.append(parse_qs(parts.query))
                time.sleep(outer.delay)
                payload = outer.body.encode()
                self.send_response(outer.status if parts.path == "/api/query" else 404)
                self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/query"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def stub() -> Iterator[StubArxiv]:
    srv = StubArxiv()
    srv.thread.start()
    yield srv
    srv.server.shutdown()
    srv.server.server_close()


def _client(url: str, **kw) -> ArxivClient:
    return ArxivClient(
        base_url=url, enabled=True, timeout=kw.pop("timeout", 2.0), min_interval_s=0, **kw
    )


def test_search_parses_the_feed_and_sends_the_api_params(stub):
    papers = _client(stub.url).search("learning rate plateau", max_results=2)
    assert [p.id for p in papers] == ["2304.00902v4", "2008.13535v2"]
    first = papers[0]
    assert first.title == "FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction"
    assert first.authors == ["Kelong Mao", "Jieming Zhu"]
    assert (
        first.summary
        == "A stub abstract about two MLP streams, feature gating and bilinear fusion."
    )
    assert (first.published.year, first.published.month, first.published.day) == (2023, 4, 3)
    assert first.url == "http://arxiv.org/abs/2304.00902v4"
    assert papers[1].title == "DCN V2: Improved Deep & Cross Network"
    (query,) = stub.queries
    assert query["search_query"] == ["all:learning AND all:rate AND all:plateau"]
    assert query["start"] == ["0"] and query["max_results"] == ["2"]


def test_disabled_client_sends_nothing(stub):
    client = ArxivClient(base_url=stub.url)  # enabled=False is the default
    assert client.search("anything") == [] and client.search_or_empty("anything") == []
    assert stub.queries == []


def test_server_down_is_a_rea_error_or_an_empty_result_with_a_warning(caplog):
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}/api/query")
    with pytest.raises(ArxivError, match="unreachable") as info:
        client.search("ctr")
    assert isinstance(info.value, ReaError)
    with caplog.at_level(logging.WARNING, logger="rea.memory.arxiv"):
        assert client.search_or_empty("ctr") == []
    assert "arXiv search for 'ctr' failed" in caplog.text


def test_http_errors_timeouts_and_bad_feeds_raise(stub):
    stub.status, stub.body = 503, "Service Unavailable"
    with pytest.raises(ArxivError, match="HTTP 503"):
        _client(stub.url).search("ctr")
    stub.status, stub.body = 200, "<html><body>maintenance</body></html>"
    with pytest.raises(ArxivError, match="not an Atom feed"):
        _client(stub.url).search("ctr")
    stub.body = "this is not xml <"
    with pytest.raises(ArxivError, match="not XML"):
        _client(stub.url).search("ctr")
    stub.body = ERROR_FEED
    with pytest.raises(ArxivError, match="incorrect id format"):
        _client(stub.url).search("ti:1234")
    stub.body, stub.delay = FEED, 1.0
    with pytest.raises(ArxivError, match="unreachable"):
        _client(stub.url, timeout=0.2).search("ctr")


def test_calls_are_spaced_by_min_interval(stub):
    now = [100.0]
    slept: list[float] = []
    client = ArxivClient(
        base_url=stub.url,
        enabled=True,
        min_interval_s=3.0,
        clock=lambda: now[0],
        sleep=slept.append,
    )
    client.search("ctr")
    now[0] += 1.0
    client.search("ctr")
    assert slept == [pytest.approx(2.0)]


def test_query_building_and_argument_checks():
    assert build_query("deep cross") == "all:deep AND all:cross"
    assert build_query("ti:DeepFM AND au:Guo") == "ti:DeepFM AND au:Guo"
    with pytest.raises(ArxivError, match="empty"):
        build_query("   ")
    with pytest.raises(ArxivError, match="max_results"):
        ArxivClient(enabled=True).search("ctr", max_results=0)
    assert parse_feed(FEED.encode())[0].id == "2304.00902v4"
