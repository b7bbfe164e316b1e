"""The chat agent against real campaign operations (SQLite store and checkpointer, real training
jobs on tiny data): the offline command grammar end to end, the LLM tool loop over the stub
OpenAI server (and its fallback), and `rea chat` against the real service on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import typer
import uvicorn
from stub_openai import error_reply, tool_reply
from typer.testing import CliRunner

from rea.agents.brain import Brain, make_brain
from rea.app import chat_text
from rea.app.campaigns import open_runner
from rea.app.chat import ChatAgent
from rea.app.chat_cli import chat_cmd, iter_sse
from rea.app.chat_grammar import Command, parse
from rea.app.ops import ACTIVE, CampaignOps
from rea.app.service import create_app
from rea.app.settings import Settings

DATA = "synthetic:tiny?rows=3000"
BUDGET = 100.0  # the baseline may reserve 15 s: ample for 3 seeds on 3000 rows on a busy machine
TOKEN = "s3cret-token"
CRASH_BASELINE = [{"phase": "baseline", "index": 0, "fault": {"kind": "crashed"}}]


@pytest.fixture(scope="module")
def ops(tmp_path_factory) -> Iterator[CampaignOps]:
    """Campaign operations over one home for the module (Inline: resumes run in the caller)."""
    settings = Settings(home=tmp_path_factory.mktemp("chat-home"), brain="offline")
    with open_runner(settings, brain=Brain()) as runner:
        ops = CampaignOps(runner)
        yield ops
        for c in ops.list_campaigns():  # no training process outlives the tests
            if c["status"] in ACTIVE:
                ops.cancel(c["campaign_id"])


@pytest.fixture
def agent(ops) -> ChatAgent:
    return ChatAgent(ops)


@pytest.fixture(scope="module")
def campaigns(ops) -> dict[str, Any]:
    """Two campaigns waiting on their plan: one started from a chat thread, one whose first
    baseline job crashed (an injected fault). Both run at once (two campaign threads)."""
    agent = ChatAgent(ops)
    started = agent.reply("t-start", f"start dcn_v2 on {DATA} budget {BUDGET:.0f} goal: lower NE")
    crashed = ops.runner.create("dcn_v2", DATA, BUDGET)
    ops.runner.begin(crashed, faults=CRASH_BASELINE)
    with ThreadPoolExecutor(2) as pool:
        ends = list(pool.map(to_plan_approval(ops), [started.campaign_id, crashed]))
    assert ends == ["awaiting_approval"] * 2
    return {"started": started, "crashed": crashed}


def to_plan_approval(ops: CampaignOps) -> Callable[[str], str]:
    """Run a campaign (baseline jobs, hypotheses, plan) until it waits on a human."""
    return lambda cid: ops.runner.drive(cid, lambda pending: None, poll_s=0.1)


def say(agent: ChatAgent, thread: str, text: str) -> str:
    return agent.reply(thread, text).text


# --- the grammar ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("what's the best so far?", Command("best")),
        ("Why did job 12 fail?", Command("job", {"ref": "12"})),
        ("why did it fail", Command("job", {"ref": None})),
        ("pending", Command("approvals")),
        ("approve the plan", Command("approve", {"kind": "plan"})),
        ("yes, the plan", Command("approve", {"kind": "plan"})),
        ("ok thanks", None),  # not an approval
        ("reject c-1a2b3c4d-plan because too costly", None),  # checked below
        ("skip exploitation", Command("skip", {"phases": ["exploitation"]})),
        ("stop after this phase", Command("wrap_up")),
        ("add 2 minutes", Command("add_budget", {"seconds": 120.0})),
        ("give it 5 more minutes", Command("add_budget", {"seconds": 300.0})),
        ("add budget 120", Command("add_budget", {"seconds": 120.0})),
        ("how much budget is left?", Command("status")),
        ("status c-1a2b3c4d", Command("status", {"campaign_id": "c-1a2b3c4d"})),
        ("use c-1a2b3c4d", Command("use", {"campaign_id": "c-1a2b3c4d"})),
        ("stop", None),  # ambiguous: wrap up or cancel?
        (
            "new campaign model=deepfm data=synthetic:tiny budget=60",
            Command("start", {"model": "deepfm", "data": "synthetic:tiny", "budget": 60.0}),
        ),
        (
            "start dcn_v2 on synthetic:interaction-heavy?rows=60000 budget 240 goal: beat 0.97",
            Command(
                "start",
                {
                    "model": "dcn_v2",
                    "data": "synthetic:interaction-heavy?rows=60000",
                    "budget": 240.0,
                    "goal": "beat 0.97",
                },
            ),
        ),
    ],
)
def test_grammar_understands_plain_phrasing(text, command):
    if text.startswith("reject"):
        got = parse(text)
        assert got is not None and got.name == "reject"
        assert got.args["id"] == "c-1a2b3c4d-plan" and got.args["message"] == "too costly"
        return
    assert parse(text) == command


def test_replies_summarise_best_launch_and_escalation():
    base = {"val_ne": 0.97951, "val_auc": 0.60218, "test_ne": 0.96919, "test_auc": 0.63288}
    view = {
        "campaign_id": "c-1",
        "status": "running",
        "trials": 4,
        "baseline": base,
        "best": {
            **base,
            "val_ne": 0.96384,
            "experiment_id": "c-1-v2",
            "config_delta": {"lr": 0.003},
        },
        "ne_gain_pct": 1.5993,
        "validated": [{"id": "h", "title": "lr 3e-3", "source": "research"}],
    }
    trials = [
        {"experiment_id": "c-1-base", "phase": "baseline", "title": "baseline", "val_ne": 0.97951},
        {
            "experiment_id": "c-1-x1-0",
            "phase": "exploitation",
            "title": "trial 0",
            "val_ne": 0.92312,
        },
    ]
    best = chat_text.best_text(view, trials)
    assert "c-1-v2 — val NE 0.9638 vs baseline 0.9795 (+1.60% NE gain)" in best
    assert 'Config change: {"lr": 0.003}' in best and "[research] lr 3e-3" in best
    assert "Lowest single run: trial 0 (c-1-x1-0, exploitation) val NE 0.9231" in best

    launch = {
        "approval_id": "c-1-launch",
        "kind": "launch",
        "request": {
            "experiment_id": "c-1-v2",
            "config_delta": {"lr": 0.003},
            "expected_gain_pct": 1.6,
            "ci_lo": 0.8,
            "ci_hi": 2.4,
            "validated": True,
            "baseline_val_ne": 0.97951,
            "best_val_ne": 0.96384,
            "test": {"baseline": {"test_ne": 0.96919}, "best": {"test_ne": 0.9541}},
        },
    }
    text = chat_text.approval_text(launch, {})
    assert "val NE 0.9638 vs baseline 0.9795 (+1.60%, 95% CI [+0.80%, +2.40%], validated)" in text
    assert "test NE 0.9541 vs 0.9692" in text
    escalation = {
        "approval_id": "c-1-v4-esc2",
        "kind": "escalation",
        "request": {
            "job_id": "c-1-v4-a2",
            "failure": {"kind": "data_error"},
            "diagnosis": {"diagnosis": "the file is unreadable", "config_patch": {}},
        },
    }
    text = chat_text.approval_text(escalation, {})
    assert "job c-1-v4-a2 failed (data_error): the file is unreadable" in text


def test_help_unknown_input_and_no_campaign(agent, ops):
    thread = "t-help"
    assert "`start MODEL on DATA budget SECONDS" in say(agent, thread, "help")
    unknown = say(agent, thread, "aprove it")
    assert unknown.startswith("I didn't understand") and "`approve [ID]`" in unknown
    assert "no campaign yet" in say(agent, thread, "status")
    missing = say(agent, thread, "start dcn_v2")
    assert "I need the data, budget" in missing
    bad = say(agent, thread, "start dcn_v2 on synthetic:nope budget 10")
    assert bad.startswith("Can't do that") and "nope" in bad
    roles = [m.role for m in ops.store.chat_messages(thread)]
    assert roles == ["user", "agent"] * 5


def test_start_from_chat_status_plan_and_reject(agent, ops, campaigns):
    thread = "t-start"
    reply = campaigns["started"]
    cid = reply.campaign_id
    assert cid and reply.follow and reply.text.startswith(f"Started **{cid}**")
    campaign = ops.store.get_campaign(cid)
    assert (campaign.model, campaign.data, campaign.goal) == ("dcn_v2", DATA, "lower NE")
    assert ops.store.chat_campaign(thread) == cid
    assert [m.campaign_id for m in ops.store.chat_messages(thread)][-1] == cid

    view = ops.campaign(cid)
    status = say(agent, thread, "how's it going?")
    assert "awaiting_approval" in status and f"{cid}-plan" in status
    assert f"Baseline val NE {view['baseline']['val_ne']:.4f}" in status
    assert f"/ {BUDGET:.1f} trainer-s used" in status

    plan = say(agent, thread, "what do you need from me?")
    request = ops.approval(f"{cid}-plan")["request"]
    assert plan.startswith(f"**Plan** ({cid}-plan): {len(request['experiments'])} validation")
    assert "[research: " in plan and "Budget split: validation" in plan
    assert request["experiments"][0]["title"] in plan

    rejected = agent.reply(thread, "reject because the budget is too small")
    assert rejected.text.startswith(f"Rejected the plan ({cid}-plan) (the budget is too small)")
    approval = ops.store.get_approval(f"{cid}-plan")
    assert approval.status == "rejected"
    assert approval.decision["message"] == "the budget is too small"
    assert ops.store.get_campaign(cid).status == "cancelled"
    assert not rejected.follow  # nothing left to follow
    assert "Nothing of" in say(agent, thread, "approve")


def test_failed_job_best_approve_and_steer(agent, ops, campaigns):
    thread = "t-steer"
    cid = campaigns["crashed"]
    assert "Now talking about" in say(agent, thread, f"use {cid}")

    jobs = say(agent, thread, "jobs")
    assert f"1. {cid}-base-a1 — baseline — failed (crashed): injected crash" in jobs
    assert f"2. {cid}-base-a2 — baseline — succeeded, val NE 0." in jobs
    why = say(agent, thread, "why did job 1 fail?")
    assert f"Job 1 ({cid}-base-a1, baseline, attempt 1) failed: crashed" in why
    assert "What the agent did: retry" in why
    assert f"Next attempt: {cid}-base-a2 (attempt 2) succeeded" in why
    assert "injected crash" in why.split("Log tail:")[1]
    assert why == say(agent, thread, "why did it fail?")  # the latest failure
    assert "has 2 jobs" in say(agent, thread, "why did job 7 fail?")

    base = ops.campaign(cid)["baseline"]
    best = say(agent, thread, "what's the best so far?")
    assert "nothing has beaten the baseline yet" in best
    assert f"Baseline val NE {base['val_ne']:.4f}, AUC {base['val_auc']:.4f}" in best

    approved = agent.reply(thread, "approve")
    assert approved.follow and approved.text.startswith(f"Approved the plan ({cid}-plan)")
    assert ops.store.get_approval(f"{cid}-plan").status == "approved"
    assert ops.store.get_campaign(cid).phase == "validation"

    skipped = agent.reply(thread, "skip exploitation")
    assert skipped.follow and "will skip exploitation" in skipped.text
    assert ops.store.get_campaign(cid).steering == {"skip_phases": ["exploitation"]}

    added = say(agent, thread, "add budget 20")
    assert added.startswith(f"Added 20 trainer-s to {cid}: budget now {BUDGET + 20:.1f} s")
    assert ops.store.budget_status(cid).approved_seconds == pytest.approx(BUDGET + 20)

    say(agent, thread, "wrap up")
    assert ops.store.get_campaign(cid).steering == {
        "skip_phases": ["exploitation"],
        "wrap_up": True,
    }
    assert "Steering: skip exploitation, wrap up" in say(agent, thread, "status")

    cancelled = say(agent, thread, "cancel")
    assert cancelled.startswith(f"Cancelled {cid}")
    assert ops.store.get_campaign(cid).status == "cancelled"


def test_several_pending_approvals_ask_which(agent, ops):
    cid = ops.runner.create("dcn_v2", DATA, BUDGET)  # nothing runs
    for name in ("a", "b"):
        ops.store.create_approval(
            cid,
            "budget",
            {"extra_seconds": 5.0, "phase": "validation"},
            approval_id=f"{cid}-{name}",
        )
    thread = "t-which"
    say(agent, thread, f"use {cid}")
    question = say(agent, thread, "approve")
    assert question.startswith("Several approvals are pending") and f"{cid}-a" in question
    assert f"{cid}-b (budget)" in question
    assert ops.store.get_approval(f"{cid}-a").status == "pending"
    bad_json = say(agent, thread, f"edit {cid}-a {{extra_seconds: 5")
    assert bad_json.startswith("That JSON does not parse")
    summary = say(agent, thread, "approvals")
    assert "**Budget**" in summary and "add 5.0 s?" in summary


def test_concurrent_messages_on_one_thread_stay_paired(agent, ops):
    thread = "t-concurrent"
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: say(agent, thread, "help"), range(8)))
    assert all(r.startswith("I run and steer") for r in replies)
    roles = [m.role for m in ops.store.chat_messages(thread)]
    assert roles == ["user", "agent"] * 8


# --- the LLM --------------------------------------------------------------------------------
def llm_agent(ops: CampaignOps, stub) -> ChatAgent:
    brain = make_brain("llm", model_name="stub", api_key="sk-test", base_url=stub.base_url)
    return ChatAgent(ops, brain)


def test_llm_calls_tools_then_answers(ops, stub_openai):
    cid = ops.runner.create("dcn_v2", DATA, BUDGET)
    thread = ops.store.get_campaign(cid).thread_id  # the campaign's own thread
    answer = f"{cid} is still planning: nothing has trained yet."
    stub_openai.script(
        tool_reply("add_budget", {"seconds": -5}),  # invalid: the model is told why
        tool_reply("campaign_status", {}),
        answer,
    )
    reply = llm_agent(ops, stub_openai).reply(thread, "how is my campaign doing?")
    assert (reply.text, reply.campaign_id, reply.follow) == (answer, cid, False)

    first, _, last = stub_openai.requests
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"start_campaign", "campaign_status", "explain_job", "decide", "steer"} <= names
    assert cid in first["messages"][0]["content"]  # the system prompt names the campaign
    tools = [m["content"] for m in last["messages"] if m["role"] == "tool"]
    assert tools[0].startswith("error: ValidationError") and "greater than 0" in tools[0]
    assert f"**{cid}** dcn_v2 on {DATA} — planning" in tools[1]
    assert ops.store.budget_status(cid).approved_seconds == BUDGET  # the bad call did nothing
    assert ops.store.budget_status(cid).llm_prompt_tokens == 12 * 3
    assert [m.content for m in ops.store.chat_messages(thread)][-1] == answer


def test_llm_failure_falls_back_to_the_grammar(ops, stub_openai):
    cid = ops.runner.create("dcn_v2", DATA, BUDGET)
    thread = ops.store.get_campaign(cid).thread_id
    stub_openai.script(error_reply(400, "model not found"))
    agent = llm_agent(ops, stub_openai)
    text = say(agent, thread, "status")
    assert text.startswith("(No usable answer from the LLM: ") and "model not found" in text
    assert f"**{cid}** dcn_v2" in text  # the grammar's status
    assert agent.brain.fallbacks and agent.brain.fallbacks[0].startswith("chat:")


def test_llm_fallback_after_an_action_does_not_redo_it(ops, stub_openai):
    cid = ops.runner.create("dcn_v2", DATA, BUDGET)
    thread = ops.store.get_campaign(cid).thread_id
    stub_openai.script(tool_reply("add_budget", {"seconds": 10}), "")  # then an empty answer
    text = say(llm_agent(ops, stub_openai), thread, "add budget 10")
    assert "The LLM stopped without an answer" in text and "+10 s budget" in text
    assert ops.store.budget_status(cid).approved_seconds == BUDGET + 10  # added once


# --- `rea chat` -----------------------------------------------------------------------------
def test_sse_parsing():
    lines = [
        "event: message",
        'data: {"role": "agent", "content": "hi"}',
        "",
        ": keep-alive",
        "event: progress",
        'data: {"line": "a"}',
        "",
        "data: not json",
        "",
    ]
    assert list(iter_sse(lines)) == [
        ("message", {"role": "agent", "content": "hi"}),
        ("progress", {"line": "a"}),
        ("message", {"text": "not json"}),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def service(tmp_path) -> Iterator[str]:
    """The real service (`rea serve`'s app, with an API token) under uvicorn on a free port."""
    settings = Settings(home=tmp_path / "svc", brain="offline", api_token=TOKEN)
    port = free_port()
    app = create_app(settings, port=port, sweep_interval=0.2)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(90)


def rea_chat(*args: str, env: dict[str, str] | None = None):
    app = typer.Typer()
    app.command()(chat_cmd)
    return CliRunner().invoke(app, list(args), env=env)


def test_rea_chat_against_the_service(service):
    url = service

    def chat(text: str, follow: str = "0", token: str = TOKEN) -> Any:
        args = ["--url", url, "--thread", "cli-1", "--once", text, "--follow", follow]
        return rea_chat(*args, env={"REA_API_TOKEN": token})

    refused = chat("status", token="")
    assert refused.exit_code == 1 and "set REA_API_TOKEN" in refused.output

    out = chat(f"start dcn_v2 on {DATA} budget {BUDGET:.0f}", follow="120")
    assert out.exit_code == 0, out.output
    assert "rea> Started **c-" in out.output
    assert "· baseline: 3 seeds of the current config" in out.output  # a progress line
    assert "status: " in out.output
    assert "waiting on your plan approval (c-" in out.output  # the stream ended on it

    plan = chat("approvals")
    assert "rea> **Plan** (c-" in plan.output and "Budget split" in plan.output
    assert "rea> Cancelled c-" in chat("cancel").output


def test_rea_chat_without_a_service_says_what_to_do():
    url = f"http://127.0.0.1:{free_port()}"
    out = rea_chat("--url", url, "--once", "status")
    assert out.exit_code == 1
    assert f"nothing answers at {url}: start the service with `rea serve`" in out.output
    assert "Traceback" not in out.output
