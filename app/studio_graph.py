"""The campaign graph for the LangGraph server (`langgraph dev`, LangGraph Studio, Agent Chat UI):
`graph` here is what langgraph.json serves as "campaign" (docs/langgraph-studio.md).

The server brings its own checkpointer and passes a run's context as JSON, so this module:

- compiles our graph's nodes and edges (graph/builder.py) without a checkpointer, behind an entry
  node `start`: a new thread's first run creates the campaign row — from the input fields
  `model`, `data`, `budget_seconds` (Studio's form) or from a chat line such as
  "start dcn_v2 on synthetic:tiny budget 60" (Agent Chat UI) — with the server's thread id on
  it, so the mounted webhook (app/studio_http.py) finds the thread a job belongs to. A later
  message on that thread says where the campaign stands and re-enters the node it waited in
  (a new input restarts a LangGraph thread from START, dropping its pending interrupt; every
  waiting node re-raises the same interrupt, since nothing precedes it);
- registers this process's Services (from `Settings`, made on the first run) as the default
  `services_of` falls back to;
- narrates: each node's new progress notes, its launched jobs and the job results it took in
  become short AI messages in `messages`, and a node that pauses marks the campaign row
  awaiting_approval / awaiting_jobs (what our runner does after each resume).

The server loads this file by path, not as a package module: absolute imports only, and no
`from __future__ import annotations` (LangGraph reads the TypedDicts' annotations, which then
would be strings to resolve in a module sys.modules may not know).
"""

import os
from collections.abc import Callable
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.errors import GraphInterrupt
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from rea.app import chat_grammar
from rea.app.campaigns import services_from
from rea.app.settings import Settings
from rea.graph.builder import make_builder
from rea.graph.context import Services, services_of, set_default_services
from rea.graph.state import CampaignState
from rea.memory import ExperimentStore
from rea.trainers.config import parse_config
from rea.trainers.data.refs import parse_ref
from rea.trainers.errors import ConfigError, ReaError

GRAPH_ID = "campaign"  # its key in langgraph.json: also the server's assistant id
DEFAULT_URL = "http://127.0.0.1:2024"  # `langgraph dev`'s default address
EXAMPLE = "start dcn_v2 on synthetic:tiny budget 60"
TERMINAL = ("completed", "failed", "cancelled")
REQUEST_FIELDS = ("model", "data", "budget_seconds", "baseline", "goal")
# where `start` may send a run: a new campaign's first node, or the node its thread waited in
ENTRIES = (
    "setup",
    "launch",
    "wait",
    "escalate",
    "approve_plan",
    "approve_budget",
    "propose_launch",
)


class StudioInput(TypedDict, total=False):
    """A run's input: a chat line in `messages` ("start MODEL on DATA budget SECONDS"), or the
    campaign's fields (`model`, `data`, `budget_seconds`, optional `baseline` config and
    `goal`); `faults` injects failures into chosen jobs (drills)."""

    messages: Annotated[list[AnyMessage], add_messages]
    model: str
    data: str
    budget_seconds: float
    baseline: dict[str, Any]
    goal: str
    faults: list[dict[str, Any]]


class StudioState(CampaignState, total=False):
    model: str
    data: str
    budget_seconds: float
    baseline: dict[str, Any]
    goal: str
    entry: str  # where `start` sends this run: a node of ENTRIES, or "end"


# --- services for the server process -------------------------------------------------------
def studio_services() -> Services:
    """Services from `Settings` for the LangGraph-server mode: jobs call back to the server's
    mounted webhook, signed with REA_WEBHOOK_SECRET (required here)."""
    settings = Settings()
    require_secret(settings)
    services = services_from(settings)
    services.callback_url = callback_url(settings)
    return services


def require_secret(settings: Settings) -> str:
    if not settings.webhook_secret:
        raise ConfigError(
            "langgraph dev mode needs REA_WEBHOOK_SECRET (jobs sign their callbacks with it and "
            "the mounted webhook checks them): export REA_WEBHOOK_SECRET=$(openssl rand -hex 32)"
        )
    return settings.webhook_secret


def callback_url(settings: Settings) -> str:
    """The mounted webhook as jobs see it: REA_PUBLIC_URL, else the server's own URL."""
    base = settings.public_url or os.environ.get("LANGGRAPH_API_URL") or DEFAULT_URL
    return f"{base.rstrip('/')}/v1/jobs/{{job_id}}/events"


# --- the entry node ------------------------------------------------------------------------
def start(state: StudioState, runtime: Runtime) -> dict[str, Any]:
    """Create this thread's campaign from the input, or say where it stands and rejoin it."""
    svc = services_of(runtime)
    thread_id = _thread_id(runtime)
    used = {k: None for k in REQUEST_FIELDS}  # consumed: a later input starts afresh
    campaign = svc.store.get_campaign_by_thread(thread_id)
    if campaign is not None:
        return {**used, **_rejoin(svc.store, state, campaign)}
    try:
        request = _request(state)
        cid = _create(svc.store, request, thread_id)
    except (ReaError, ValueError) as err:
        reply = _say(f"I could not start a campaign: {err}")
        return {**used, "entry": "end", "messages": [reply]}
    text = (
        f"Campaign {cid}: {request['model']} on {request['data']}, "
        f"{float(request['budget_seconds']):.0f} trainer-seconds. Running the baseline first; "
        "then I will ask you to approve the plan."
    )
    return {**used, "campaign_id": cid, "entry": "setup", "messages": [_say(text)]}


def after_start(state: dict[str, Any]) -> str:
    return state.get("entry") or "end"


def rejoin_node(store: ExperimentStore, state: dict[str, Any], campaign_id: str) -> str | None:
    """The node a campaign's thread waited in (or should go on from); None: nothing to do."""
    if not state.get("phase"):
        return "setup"
    if state.get("escalation"):
        return "escalate"
    if state.get("budget_request"):
        return "approve_budget"
    asked = {a.kind for a in store.list_approvals(campaign_id=campaign_id, status="pending")}
    if "plan" in asked and state.get("plan"):
        return "approve_plan"
    if "launch" in asked:
        return "propose_launch"
    if state.get("pending"):
        return "wait"
    return "launch" if state.get("launch") else None


def _rejoin(store: ExperimentStore, state: dict[str, Any], campaign: Any) -> dict[str, Any]:
    cid = campaign.id
    if campaign.status in TERMINAL:
        report = state.get("report_path")
        text = f"Campaign {cid} on this thread is {campaign.status}"
        text += f" (report: {report})" if report else ""
        return {"entry": "end", "messages": [_say(f"{text}. Start a new thread for a new one.")]}
    node = rejoin_node(store, {**state, "campaign_id": cid}, cid)
    used = store.budget_status(cid)
    text = (
        f"Campaign {cid} is {campaign.status}, phase {campaign.phase or 'setup'}, "
        f"{used.charged_seconds:.0f}/{used.approved_seconds:.0f} trainer-seconds used."
    )
    if node in ("approve_plan", "approve_budget", "escalate", "propose_launch"):
        text += " It waits on your decision (below)."
    elif node == "wait":
        text += f" It waits on {len(state.get('pending') or [])} job(s)."
    return {"campaign_id": cid, "entry": node or "end", "messages": [_say(text)]}


def _request(state: dict[str, Any]) -> dict[str, Any]:
    """The new campaign the input asks for: its fields, or a parsed chat line."""
    if any(state.get(k) for k in ("model", "data", "budget_seconds")):
        request = {k: state.get(k) for k in REQUEST_FIELDS}
    else:
        text = _last_human_text(state.get("messages") or [])
        command = chat_grammar.parse(text) if text else None
        if command is None or command.name != "start":
            raise ConfigError(f"tell me what to run, e.g. `{EXAMPLE}`")
        args = command.args
        request = {**args, "budget_seconds": args.get("budget")}
    missing = [k for k in ("model", "data", "budget_seconds") if not request.get(k)]
    if missing:
        raise ConfigError(f"the request lacks {', '.join(missing)}; e.g. `{EXAMPLE}`")
    return request


def _create(store: ExperimentStore, request: dict[str, Any], thread_id: str) -> str:
    """Check the request (as `CampaignRunner.create` does) and create the campaign row."""
    model, data = str(request["model"]), str(request["data"])
    budget = float(request["budget_seconds"])
    parse_ref(data)  # DataError naming the reference and the problem
    if not budget > 0:
        raise ConfigError(f"the budget must be > 0 trainer-seconds (got {budget})")
    baseline = dict(request.get("baseline") or {})
    if baseline.get("model", model) != model:
        raise ConfigError(f"the baseline is a {baseline['model']!r} config but model is {model!r}")
    config = parse_config({**baseline, "model": model}).model_dump(mode="json")
    row = store.create_campaign(
        model, data, budget, baseline_config=config, goal=request.get("goal"), thread_id=thread_id
    )
    return row.id


def _thread_id(runtime: Runtime) -> str:
    info = runtime.execution_info
    if info is None or not info.thread_id:
        raise ConfigError("the campaign graph runs on a thread: create a thread, then a run on it")
    return info.thread_id


def _last_human_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if getattr(message, "type", None) == "human":
            content = message.content
            if isinstance(content, list):  # content blocks
                content = " ".join(
                    b.get("text", "") if isinstance(b, dict) else str(b) for b in content
                )
            return str(content).strip()
    return ""


def _say(text: str) -> AIMessage:
    return AIMessage(content=text)


# --- narration around our nodes ---------------------------------------------------------------
def narrated(name: str, fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """`fn` (one of our nodes) with its progress told in `messages` and, when it pauses, the
    campaign row marked as waiting. The node itself is unchanged."""

    def node(state: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
        svc = services_of(runtime)
        cid = state.get("campaign_id")
        if cid:
            _meter(svc, cid)
        try:
            update = fn(state, runtime) or {}
        except GraphInterrupt as paused:
            if cid:
                _mark_waiting(svc.store, cid, paused.args[0] if paused.args else ())
            raise
        lines = progress_lines(name, state, update)
        return {**update, "messages": [_say(line) for line in lines]} if lines else update

    node.__name__ = node.__qualname__ = name
    node.__doc__ = fn.__doc__
    return node


def progress_lines(name: str, state: dict[str, Any], update: dict[str, Any]) -> list[str]:
    """What a node's update tells the user: new notes, jobs launched, a job's outcome."""
    old = list(state.get("notes") or [])
    notes = list(update.get("notes") or old)
    lines = notes[len(old) :] if notes[: len(old)] == old else [n for n in notes if n not in old]
    if name == "launch":
        launched = [j for j in update.get("pending") or [] if j not in (state.get("pending") or [])]
        if launched:
            lines.append(
                f"launched {len(launched)} job(s) ({', '.join(launched)}); sleeping until they "
                "call back"
            )
    if name in ("wait", "ingest") and (event := update.get("event")) and event.get("kind"):
        failure = f" ({event['failure_kind']})" if event.get("failure_kind") else ""
        lines.append(f"job {event['job_id']} {event['kind']}{failure}")
    return lines


def _mark_waiting(store: ExperimentStore, campaign_id: str, interrupts: Any) -> None:
    kinds = {i.value.get("type") for i in interrupts if isinstance(i.value, dict)}
    if "approval" in kinds:
        status = "awaiting_approval"
    elif "job_wait" in kinds:
        status = "awaiting_jobs"
    else:
        return
    if store.get_campaign(campaign_id).status not in (status, *TERMINAL):
        store.update_campaign(campaign_id, status=status)


def _meter(svc: Services, campaign_id: str) -> None:
    """LLM tokens spent in this node go to this campaign's ledger (as our runner does)."""

    def record(agent: str, prompt: int, completion: int, model: str) -> None:
        svc.store.record_llm_tokens(campaign_id, prompt, completion, model)

    svc.brain.on_usage = record


# --- the graph ----------------------------------------------------------------------------------
def make_studio_builder() -> StateGraph:
    """Our campaign graph (same nodes, edges and routes) behind the `start` entry node."""
    base = make_builder()
    g = StateGraph(StudioState, input_schema=StudioInput)
    g.add_node("start", start)
    for name, spec in base.nodes.items():
        g.add_node(name, narrated(name, spec.runnable.func))
    g.add_edge(START, "start")
    g.add_conditional_edges("start", after_start, {**{n: n for n in ENTRIES}, "end": END})
    for source, target in base.edges:
        if source != START:
            g.add_edge(source, target)
    for source, branches in base.branches.items():
        for branch in branches.values():
            g.add_conditional_edges(source, branch.path.func, branch.ends)
    return g


builder = make_studio_builder()
graph = builder.compile(name=GRAPH_ID)  # no checkpointer: the server brings its own
set_default_services(studio_services)
