"""An optional online source for the research library: the public arXiv query API.

Off by default (`enabled=False`): REA runs fully offline, and the curated cards are the primary
research source. When enabled, `search()` sends one GET to `{base_url}?search_query=...&start=0&
max_results=N` and parses the Atom feed with `xml.etree`. Papers found this way are *leads* for the
LLM (title, abstract, link); they carry no validated config delta, unlike the cards.

Failure contract (the agent must not crash when arXiv is down):
* `search()` raises `ArxivError` (a `ReaError`) when the API is unreachable, times out, answers
  non-200, sends something that is not an Atom feed, or reports a query error in the feed.
* `search_or_empty()` is the forgiving form for policies and tools: it logs the error as a warning
  and returns `[]`.
* With `enabled=False` both return `[]` at once and send nothing.

arXiv asks API clients to leave about 3 s between calls; `min_interval_s` enforces that per client.
"""

from __future__ import annotations

import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from rea.trainers.errors import ReaError

if TYPE_CHECKING:  # httpx is imported on first use: `import rea.memory` stays light
    import httpx

DEFAULT_BASE_URL = "http://export.arxiv.org/api/query"
ATOM = "{http://www.w3.org/2005/Atom}"
MAX_RESULTS_LIMIT = 100
log = logging.getLogger(__name__)


class ArxivError(ReaError):
    """arXiv could not answer (unreachable, timeout, HTTP error, bad feed, rejected query)."""

    kind = "arxiv_error"


class ArxivPaper(BaseModel):
    """One entry of the feed. `id` is the arXiv id with version, e.g. '2304.00902v4'."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    authors: list[str]
    summary: str
    published: datetime
    url: str


def build_query(text: str) -> str:
    """Free text -> arXiv `search_query` syntax; text already using fields (`ti:`, `all:`) passes.

    'learning rate plateau' -> 'all:learning AND all:rate AND all:plateau'.
    """
    text = text.strip()
    if not text:
        raise ArxivError("empty arXiv query: give a few keywords")
    if ":" in text:
        return text
    return " AND ".join(f"all:{word}" for word in text.split())


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _entry_to_paper(entry: ET.Element) -> ArxivPaper:
    raw_id = _clean(entry.findtext(f"{ATOM}id"))
    links = entry.findall(f"{ATOM}link")
    page = next((ln.get("href") for ln in links if ln.get("rel") == "alternate"), None)
    return ArxivPaper(
        id=raw_id.rsplit("/abs/", 1)[-1],
        title=_clean(entry.findtext(f"{ATOM}title")),
        authors=[_clean(a.findtext(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")],
        summary=_clean(entry.findtext(f"{ATOM}summary")),
        published=datetime.fromisoformat(_clean(entry.findtext(f"{ATOM}published"))),
        url=page or raw_id,
    )


def parse_feed(xml_text: str | bytes) -> list[ArxivPaper]:
    """Papers from an arXiv Atom feed; `ArxivError` for a malformed feed or an API error entry."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as err:
        raise ArxivError(f"arXiv sent something that is not XML ({err})") from None
    if root.tag != f"{ATOM}feed":
        raise ArxivError(f"arXiv sent XML that is not an Atom feed (root <{root.tag}>)")
    papers = []
    for entry in root.findall(f"{ATOM}entry"):
        if "/api/errors" in (entry.findtext(f"{ATOM}id") or ""):
            detail = _clean(entry.findtext(f"{ATOM}summary"))
            raise ArxivError(f"arXiv rejected the query: {detail}")
        try:
            papers.append(_entry_to_paper(entry))
        except (ValueError, TypeError) as err:
            raise ArxivError(f"arXiv feed entry could not be parsed ({err})") from None
    return papers


class ArxivClient:
    """Search arXiv for papers. Does nothing unless `enabled=True` (see the module docstring).

    `transport` is an httpx seam for tests; `clock`/`sleep` drive the politeness delay.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        enabled: bool = False,
        timeout: float = 10.0,
        *,
        min_interval_s: float = 3.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self.enabled = enabled
        self.timeout = timeout
        self.min_interval_s = min_interval_s
        self._transport = transport
        self._clock, self._sleep = clock, sleep
        self._last_call: float | None = None
        self._lock = threading.Lock()

    def search(self, query: str, max_results: int = 10) -> list[ArxivPaper]:
        """Up to `max_results` (1..100) papers matching `query`, most relevant first.

        Returns [] when disabled. Raises `ArxivError` when arXiv cannot answer.
        """
        if not self.enabled:
            return []
        if not 1 <= max_results <= MAX_RESULTS_LIMIT:
            raise ArxivError(f"max_results must be in 1..{MAX_RESULTS_LIMIT} (got {max_results})")
        params = {
            "search_query": build_query(query),
            "start": 0,
            "max_results": max_results,
            "sortBy": "relevance",
        }
        return parse_feed(self._get(params))

    def search_or_empty(self, query: str, max_results: int = 10) -> list[ArxivPaper]:
        """Like `search`, but an arXiv failure is logged as a warning and gives []."""
        try:
            return self.search(query, max_results)
        except ArxivError as err:
            log.warning("arXiv search for %r failed, continuing without it: %s", query, err)
            return []

    def _get(self, params: dict[str, str | int]) -> bytes:
        import httpx

        with self._lock:
            self._wait_turn()
            try:
                with httpx.Client(timeout=self.timeout, transport=self._transport) as http:
                    resp = http.get(self.base_url, params=params)
            except httpx.HTTPError as err:
                raise ArxivError(
                    f"arXiv API at {self.base_url} unreachable ({type(err).__name__}: {err}); "
                    "check the network or disable the arXiv source"
                ) from None
            finally:
                self._last_call = self._clock()
        if resp.status_code != 200:
            raise ArxivError(
                f"arXiv API at {self.base_url} answered HTTP {resp.status_code}: {resp.text[:200]}"
            )
        return resp.content

    def _wait_turn(self) -> None:
        if self._last_call is None or self.min_interval_s <= 0:
            return
        wait = self.min_interval_s - (self._clock() - self._last_call)
        if wait > 0:
            self._sleep(wait)
