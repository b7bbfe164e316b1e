"""`langgraph dev` mode (langgraph.json, app/studio_graph.py, app/studio_http.py), in our own venv,
which has no LangGraph server: the config points at files that load by path as the server loads
them; the studio graph runs a real campaign (real store, real local jobs) from a chat line to the
plan approval, rejoining its waits when the user writes; the mounted webhook checks, records and
resumes through a fake LangGraph SDK client — the one fake, at the server edge.
scripts/check_langgraph_dev.sh runs the real server end to end."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START
from langgraph.pregel import Pregel
from langgraph.types import Command
from service_helpers import SECRET, signed

from rea.agents.brain import Brain
from rea.app import studio_graph as studio
from rea.app import studio_http
from rea.app.campaigns import services_from
from rea.app.settings import Settings
from rea.graph.builder import make_builder
from rea.graph.context import default_services, services_of, set_default_services
from rea.trainers.errors import ConfigError
from rea.trainers.events import JobEvent

LINE = "start lr on synthetic:tiny?rows=3000&seed=0 budget 90"
set_default_services(
    None
)  # importing rea.app.studio_graph registered it: keep other test files clear


@pytest.fixture(autouse=True)
def _no_default_services():
    """Importing app/studio_graph.py registers a process default: tests start and end without."""
    set_default_services(None)
    yield
    set_default_services(None)


def _load_by_path(path, *, register: bool) -> Any:
    """Import a file the way the LangGraph server does: by path, under a made-up module name
    (relative imports would fail), in sys.modules for a graph but not for the http app."""
    name = f"lg_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- langgraph.json ------------------------------------------------------------------------------
def test_langgraph_json_points_at_objects_that_load_by_path(repo_root, monkeypatch):
    monkeypatch.delenv("REA_WEBHOOK_SECRET", raising=False)
    config = json.loads((repo_root / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert set(config["graphs"]) == {studio.GRAPH_ID}
    spec = config["graphs"][studio.GRAPH_ID]
    graph_file, graph_name = spec["path"].split(":")
    app_file, app_name = config["http"]["app"].split(":")
    assert graph_file.startswith("./") and app_file.startswith("./")

    graph = getattr(_load_by_path(repo_root / graph_file, register=True), graph_name)
    assert isinstance(graph, Pregel) and graph.checkpointer is None  # the server brings its own
    with pytest.raises(ConfigError, match="REA_WEBHOOK_SECRET"):
        default_services()  # loading it registered the studio services (which need the secret)
    app = getattr(_load_by_path(repo_root / app_file, register=False), app_name)
    assert isinstance(app, FastAPI)
    paths = {route.path for route in app.routes}
    assert {"/v1/jobs/{job_id}/events", "/rea/healthz"} <= paths
    assert not app.user_middleware  # it would become the whole server's middleware


def test_studio_graph_is_ours_behind_an_entry_node():
    ours = make_builder().compile().get_graph()
    theirs = studio.graph.get_graph()
    edges = {(e.source, e.target) for e in theirs.edges}
    base = {(e.source, e.target) for e in ours.edges} - {(START, "setup")}
    assert base <= edges
    assert (START, "start") in edges
    assert {t for s, t in edges if s == "start"} == {*studio.ENTRIES, "__end__"}
    assert set(theirs.nodes) == set(ours.nodes) | {"start"}
    assert set(studio.StudioInput.__annotations__) >= {"messages", "model", "data"}


# --- services ---------------------------------------------------------------------------------------
def test_services_of_falls_back_to_the_registered_default_made_once():
    made = []

    def factory():
        made.append(object())
        return made[-1]

    run = SimpleNamespace(context=None)
    served = SimpleNamespace(context={"thread_id": "t-1"})  # the server's context: a dict
    with pytest.raises(RuntimeError, match="needs context=CampaignContext"):
        services_of(run)  # our own runner's contract is unchanged without a default
    set_default_services(factory)
    assert services_of(run) is services_of(served) is made[0]
    set_default_services(factory)  # registering again forgets the old instance
    assert services_of(run) is made[1] and len(made) == 2


def test_studio_services_need_the_secret_and_call_back_to_the_server(monkeypatch):
    monkeypatch.delenv("REA_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="REA_WEBHOOK_SECRET"):
        studio.studio_services()
    monkeypatch.setenv("REA_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("LANGGRAPH_API_URL", "http://127.0.0.1:4321/")
    assert studio.studio_services().callback_url == "http://127.0.0.1:4321/v1/jobs/{job_id}/events"
    monkeypatch.setenv("REA_PUBLIC_URL", "https://rea.example.org")
    assert studio.callback_url(Settings()) == "https://rea.example.org/v1/jobs/{job_id}/events"


# --- the studio graph, in process --------------------------------------------------------------------
@pytest.fixture
def served():
    """The studio graph over an in-memory saver, with services only as the process default —
    as the LangGraph server runs it (no context). Jobs still running at the end are stopped."""
    services = services_from(Settings(), brain=Brain())
    set_default_services(lambda: services)
    graph = studio.make_studio_builder().compile(checkpointer=InMemorySaver())
    yield graph, services
    for job in services.store.list_jobs(states=("queued", "running")):
        services.backend.cancel(job.job_id)


def _run(graph: Any, thread: str, payload: Any) -> Any:
    config = {"configurable": {"thread_id": thread}}
    return graph.invoke(payload, config, durability="sync", version="v2")


def _said(graph: Any, thread: str) -> list[str]:
    values = graph.get_state({"configurable": {"thread_id": thread}}).values
    return [m.content for m in values.get("messages", []) if m.type == "ai"]


def _until_approval(graph: Any, services: Any, thread: str, out: Any, timeout: float = 240):
    """Deliver each awaited job's final event (read from the backend) until an approval."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (pending,) = out.interrupts
        if pending.value["type"] == "approval":
            return out, pending
        services.backend.poll()
        finals = [services.backend.final_event(j) for j in pending.value["job_ids"]]
        final = next((f for f in finals if f is not None), None)
        if final is None:
            time.sleep(0.2)
            continue
        out = _run(graph, thread, Command(resume={pending.id: final.model_dump(mode="json")}))
    raise AssertionError("no approval in time")


def test_chat_line_starts_a_campaign_and_chat_rejoins_its_waits(served):
    graph, services = served
    store = services.store
    out = _run(graph, "t-1", {"messages": [HumanMessage("hello")]})
    assert not out.interrupts and store.list_campaigns() == []
    assert "could not start a campaign" in _said(graph, "t-1")[-1]

    out = _run(graph, "t-1", {"messages": [HumanMessage(LINE)]})
    (campaign,) = store.list_campaigns()
    assert (campaign.thread_id, campaign.model, campaign.budget_seconds) == ("t-1", "lr", 90.0)
    (wait,) = out.interrupts
    assert wait.value["type"] == "job_wait" and wait.value["campaign_id"] == campaign.id
    assert store.get_campaign(campaign.id).status == "awaiting_jobs"
    said = _said(graph, "t-1")
    assert said[-3].startswith(f"Campaign {campaign.id}: lr on synthetic:tiny")
    assert said[-1].startswith("launched 1 job(s)")

    out = _run(graph, "t-1", {"messages": [HumanMessage("how is it going?")]})
    (again,) = out.interrupts  # a new input restarts the thread: `start` re-enters the wait
    assert again.value == wait.value
    assert "waits on 1 job(s)" in _said(graph, "t-1")[-1]

    out, plan = _until_approval(graph, services, "t-1", out)
    assert plan.value["kind"] == "plan" and plan.value["action_requests"][0]["name"]
    assert plan.value["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    assert store.get_campaign(campaign.id).status == "awaiting_approval"
    assert any(line.startswith(f"job {wait.value['job_ids'][0]} ") for line in _said(graph, "t-1"))

    out = _run(graph, "t-1", {"messages": [HumanMessage("status?")]})
    (asked,) = out.interrupts
    assert asked.value["approval_id"] == plan.value["approval_id"] and asked.id != plan.id
    reject = {"decisions": [{"type": "reject", "message": "not now"}]}
    out = _run(graph, "t-1", Command(resume={asked.id: reject}))
    assert not out.interrupts and store.get_campaign(campaign.id).status == "cancelled"

    out = _run(graph, "t-1", {"messages": [HumanMessage("and now?")]})
    assert not out.interrupts and "is cancelled" in _said(graph, "t-1")[-1]
    assert len(store.list_campaigns()) == 1


def test_bad_requests_are_answered_not_raised(served):
    graph, services = served
    asks = {
        "model=nope": {"model": "nope", "data": "synthetic:tiny", "budget_seconds": 10},
        "csv:/none.csv": {"model": "lr", "data": "csv:/none.csv", "budget_seconds": 10},
        "budget_seconds": {"model": "lr", "data": "synthetic:tiny"},
        "'dcn_v2' config": {
            "model": "lr",
            "data": "synthetic:tiny",
            "budget_seconds": 10,
            "baseline": {"model": "dcn_v2"},
        },
    }
    for i, (needle, ask) in enumerate(asks.items()):
        out = _run(graph, f"t-bad-{i}", ask)
        assert not out.interrupts
        assert needle.split("=")[-1] in _said(graph, f"t-bad-{i}")[-1], needle
        assert out.value.get("model") is None  # consumed: a chat line may follow
    assert services.store.list_campaigns() == []


def test_rejoin_node_finds_where_the_thread_waited(served):
    _, services = served
    store = services.store
    cid = store.create_campaign("lr", "synthetic:tiny", 10, thread_id="t-r").id
    base = {"phase": "validation", "pending": ["j-1"]}
    assert studio.rejoin_node(store, {}, cid) == "setup"
    assert studio.rejoin_node(store, base, cid) == "wait"
    assert studio.rejoin_node(store, {**base, "escalation": {"x": 1}}, cid) == "escalate"
    assert studio.rejoin_node(store, {**base, "budget_request": {"x": 1}}, cid) == "approve_budget"
    assert studio.rejoin_node(store, {"phase": "report", "launch": [{}]}, cid) == "launch"
    assert studio.rejoin_node(store, {"phase": "report"}, cid) is None
    store.create_approval(cid, "launch", {}, approval_id=f"{cid}-launch")
    assert studio.rejoin_node(store, {**base, "phase": "done"}, cid) == "propose_launch"


# --- the webhook, with a fake LangGraph SDK client ------------------------------------------------
class FakeServer:
    """The two LangGraph SDK calls the webhook makes, over one thread's status and interrupts;
    a created run makes the thread busy, as the server does."""

    def __init__(self, thread: dict[str, Any], conflict: bool = False, delay: float = 0.0):
        self.thread, self.conflict, self.delay, self.runs = thread, conflict, delay, []
        self.client = SimpleNamespace(
            threads=SimpleNamespace(get=self._get), runs=SimpleNamespace(create=self._create)
        )

    async def _get(self, thread_id: str) -> dict[str, Any]:
        assert thread_id == self.thread["thread_id"]
        await asyncio.sleep(self.delay)
        return self.thread

    async def _create(self, thread_id: str, assistant_id: str, **kw: Any) -> dict[str, Any]:
        if self.conflict:
            request = httpx.Request("POST", f"http://api/threads/{thread_id}/runs")
            response = httpx.Response(409, request=request)
            raise httpx.HTTPStatusError("thread busy", request=request, response=response)
        self.runs.append({"thread_id": thread_id, "assistant_id": assistant_id, **kw})
        self.thread = {**self.thread, "status": "busy"}
        return {"run_id": "r-1"}


class FakeBackend:
    """What the sweeper reads from a job backend: here one job that finished with `final`."""

    def __init__(self, final: JobEvent | None = None):
        self.final = final

    def poll(self) -> None:
        pass

    def events(self, job_id: str) -> list[JobEvent]:
        return []

    def final_event(self, job_id: str) -> JobEvent | None:
        return self.final if self.final and self.final.job_id == job_id else None


@pytest.fixture
def hook(monkeypatch):
    """A campaign on thread th-1 with one running job, the webhook app over its store."""
    monkeypatch.setenv("REA_WEBHOOK_SECRET", SECRET)
    services = services_from(Settings(), brain=Brain())
    store = services.store
    cid = store.create_campaign("lr", "synthetic:tiny", 60, thread_id="th-1").id
    exp = store.create_experiment(cid, "baseline", {"model": "lr"}, experiment_id=f"{cid}-e")
    store.create_job(exp.id, "key-1", 30, job_id="j-1")
    store.reserve(cid, "j-1", 30)
    waiting = {
        "thread_id": "th-1",
        "status": "interrupted",
        "interrupts": {
            "task-1": [{"id": "i-1", "value": {"type": "job_wait", "job_ids": ["j-1", "j-2"]}}]
        },
    }

    def make(server: FakeServer, sweep_interval: float | None = None) -> TestClient:
        host = studio_http.StudioHost(lambda: services, lambda: server.client, sweep_interval)
        return TestClient(studio_http.create_app(host))

    return services, waiting, make


def _event(kind: str, seq: int, job_id: str = "j-1", attempt: int = 1) -> dict[str, Any]:
    body = {"job_id": job_id, "attempt": attempt, "seq": seq, "kind": kind, "at": "2026-01-01"}
    if kind == "succeeded":
        body["result"] = {"metrics": {"val_ne": 0.9}, "trainer_seconds": 3.0}
    return body


def _settle(client: TestClient, count: int = 1, timeout: float = 10) -> dict[str, int]:
    host = client.app.state.host
    deadline = time.monotonic() + timeout
    while sum(host.outcomes.values()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return dict(host.outcomes)


def test_webhook_checks_like_the_service(hook):
    services, waiting, make = hook
    post = "/v1/jobs/j-1/events"
    with make(FakeServer(waiting)) as client:
        assert client.post(post, json=_event("started", 1)).status_code == 401
        assert client.post(post, **signed(_event("started", 1), "wrong")).status_code == 401
        stale = signed(_event("started", 1), t=int(time.time()) - 1000)
        assert client.post(post, **stale).status_code == 401
        unknown = client.post("/v1/jobs/j-9/events", **signed(_event("started", 1, "j-9")))
        assert unknown.status_code == 404
        assert client.post("/v1/jobs/j-2/events", **signed(_event("started", 1))).status_code == 422
        assert client.post(post, **signed(_event("started", 1, attempt=2))).status_code == 422
        assert client.post(post, **signed(b"{not json")).status_code == 422
        assert client.post(post, **signed(b"x" * 300_000)).status_code == 413
        health = client.get("/rea/healthz").json()
    assert health["status"] == "ok" and health["graph"] == "campaign"
    assert services.store.list_events("j-1") == []


def test_final_event_resumes_the_waiting_thread_once(hook):
    services, waiting, make = hook
    server = FakeServer(waiting)
    post = "/v1/jobs/j-1/events"
    with make(server) as client:
        first = client.post(post, **signed(_event("started", 1)))
        assert (first.status_code, first.json()["status"]) == (202, "accepted")
        assert client.post(post, **signed(_event("started", 1))).json()["status"] == "duplicate"
        assert server.runs == []  # progress events wake nobody

        done = client.post(post, **signed(_event("succeeded", 2)))
        assert done.status_code == 202
        assert _settle(client) == {"webhook:resumed": 1}
        again = client.post(post, **signed(_event("succeeded", 2)))
        assert again.json()["status"] == "duplicate"
        assert _settle(client, 2) == {"webhook:resumed": 1, "webhook:busy": 1}
    (run,) = server.runs
    assert (run["thread_id"], run["assistant_id"]) == ("th-1", "campaign")
    assert run["command"] == {"resume": {"i-1": JobEvent(**_event("succeeded", 2)).model_dump()}}
    assert run["multitask_strategy"] == "reject"
    assert [e.kind for e in services.store.list_events("j-1")] == ["started", "succeeded"]


@pytest.mark.parametrize(
    ("thread", "conflict", "outcome"),
    [
        ({"status": "busy"}, False, "busy"),  # a run is in flight: the sweeper comes back
        ({"interrupts": {}}, False, "stale"),  # the thread waits on nothing (or a human)
        ({}, True, "busy"),  # another run got there first (multitask_strategy=reject)
    ],
)
def test_final_event_resumes_nothing_the_thread_is_not_waiting_for(hook, thread, conflict, outcome):
    services, waiting, make = hook
    server = FakeServer({**waiting, **thread}, conflict=conflict)
    with make(server) as client:
        client.post("/v1/jobs/j-1/events", **signed(_event("succeeded", 2)))
        assert _settle(client) == {f"webhook:{outcome}": 1}
    assert server.runs == []
    assert [e.kind for e in services.store.list_events("j-1")] == ["succeeded"]  # kept for `wait`


def test_sweeper_delivers_a_final_event_no_callback_brought(hook):
    services, waiting, make = hook
    services.backend = FakeBackend(JobEvent(**_event("succeeded", 2)))
    server = FakeServer(waiting)
    with make(server, sweep_interval=0.05) as client:
        outcomes = _settle(client, 3)
    assert outcomes["sweep:resumed"] == 1 and set(outcomes) <= {"sweep:resumed", "sweep:busy"}
    assert len(server.runs) == 1


def test_shutdown_waits_for_a_delivery_in_flight(hook):
    _, waiting, make = hook
    server = FakeServer(waiting, delay=0.5)
    with make(server) as client:
        assert client.post("/v1/jobs/j-1/events", **signed(_event("failed", 2))).status_code == 202
        host = client.app.state.host
    assert host.outcomes == {"webhook:resumed": 1} and len(server.runs) == 1


def test_webhook_app_refuses_to_start_without_the_secret(hook, monkeypatch):
    _, waiting, make = hook
    monkeypatch.delenv("REA_WEBHOOK_SECRET")
    with pytest.raises(ConfigError, match="REA_WEBHOOK_SECRET"), make(FakeServer(waiting)):
        pass
