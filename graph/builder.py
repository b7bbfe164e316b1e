"""The campaign StateGraph. `builder` is the uncompiled graph (for `langgraph dev` / Studio,
which compile it themselves); `build_graph(checkpointer, store)` compiles it for our runner.

    setup → launch ⇄ wait (+ ingest) ─┬→ debug ⇄ escalate (human) → launch
                                      └→ analyse ─┬→ insights → research → plan → approve_plan (human) → launch
                                                   ├→ (+ advance) ─┬→ launch     (next phase / round)
                                                   │               ├→ approve_budget (human) → advance
                                                   │               └→ report
                                                   └→ report → propose_launch (human) → END

    A rolling exploitation (`slots` in the state) goes from `wait` to `analyse` as soon as one of
    its jobs settles, with others still running; the analysis plans the freed slot's trial
    (→ launch), or, with nothing to start yet, goes back to `wait`.

    launch → memorise → wait        advance → memorise → approve_budget
    (only while an analysis's insights are pending: they go to Chroma after the next jobs
    were submitted, or before a human is asked; the report writes any that are left)

A wake-up's steps are few, since each saves a checkpoint (`durability="sync"`, ~1 ms a step):
`wait` applies the event it was woken with (what the `ingest` node does), and `analyse` plans
the next batch (what the `advance` node does). Both nodes stay: `advance` runs after a budget
answer, and either finishes a wake-up saved (crashed) by an older version before it.

Every human step and the job wait are `interrupt()`s, one per node, never inside a loop, with
no side effect before them; launching is its own node and idempotent.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from .context import CampaignContext
from .nodes import analysis, debugging, jobs, phases, planning, reporting, setup
from .state import CampaignInput, CampaignState


def make_builder() -> StateGraph:
    g = StateGraph(CampaignState, context_schema=CampaignContext, input_schema=CampaignInput)
    g.add_node("setup", setup.setup)
    g.add_node("launch", jobs.launch)
    g.add_node("wait", jobs.wait)
    g.add_node("ingest", jobs.ingest)
    g.add_node("debug", debugging.debug)
    g.add_node("escalate", debugging.escalate)
    g.add_node("analyse", analysis.analyse)
    g.add_node("memorise", analysis.memorise)
    g.add_node("insights", planning.insights)
    g.add_node("research", planning.research_node)
    g.add_node("plan", planning.plan)
    g.add_node("approve_plan", planning.approve_plan)
    g.add_node("advance", phases.advance)
    g.add_node("approve_budget", phases.approve_budget)
    g.add_node("report", reporting.report)
    g.add_node("propose_launch", reporting.propose_launch)

    g.add_edge(START, "setup")
    g.add_edge("setup", "launch")
    g.add_conditional_edges("launch", jobs.after_launch, ["memorise", "wait", "analyse"])
    g.add_conditional_edges(
        "memorise", analysis.after_memorise, ["approve_budget", "wait", "analyse"]
    )
    after_event = ["debug", "launch", "wait", "analyse"]
    g.add_conditional_edges("wait", jobs.after_ingest, after_event)  # wait applies the event
    g.add_conditional_edges("ingest", jobs.after_ingest, after_event)  # older checkpoints
    after_debug = ["escalate", "debug", "launch", "wait", "analyse"]
    g.add_conditional_edges("debug", debugging.route, after_debug)
    g.add_conditional_edges("escalate", debugging.route, after_debug)
    g.add_conditional_edges(  # analyse plans the next batch too (advance, in its step)
        "analyse",
        analysis.after_analyse,
        ["insights", "report", "memorise", "approve_budget", "launch", "wait"],
    )
    g.add_edge("insights", "research")
    g.add_edge("research", "plan")
    g.add_edge("plan", "approve_plan")
    g.add_conditional_edges(
        "approve_plan",
        planning.after_plan_approval,
        {"end": END, "launch": "launch", "analyse": "analyse"},
    )
    g.add_conditional_edges(
        "advance", phases.after_advance, ["memorise", "approve_budget", "launch", "report", "wait"]
    )
    g.add_edge("approve_budget", "advance")
    g.add_conditional_edges(
        "report", reporting.after_report, {"end": END, "propose_launch": "propose_launch"}
    )
    g.add_edge("propose_launch", END)
    return g


builder = make_builder()


def build_graph(checkpointer: Any = None, store: Any = None) -> Any:
    """The compiled campaign graph over `checkpointer` (and an optional LangGraph store)."""
    return make_builder().compile(checkpointer=checkpointer, store=store)
