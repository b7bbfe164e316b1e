"""The analyst: is a change better than seed noise, what to remember, and the campaign report.

    analysis = analyse_phase(brain, phase="validation", baseline=base, runs=runs,
                             hypotheses={hid: {"title", "source", "config_delta"}})
    ids = write_insights(store, memory, campaign_id=cid, model="dcn_v2", dataset=traits,
                         baseline=base, comparisons=analysis.comparisons,
                         runs_by_id={r.experiment_id: r for r in runs}, titles=titles)
    index_insights(store, memory, ids)    # when written with memory=None (SQL only) first
    path = write_report(out_dir, ReportInputs(...), brain)

Numbers and verdicts come from `stats` (paired-by-seed CIs); the LLM only writes prose around
them, and any number it invents sends the text back to the offline template.
"""

from .insights import index_insights as index_insights
from .insights import write_insights as write_insights
from .outputs import FailureNote as FailureNote
from .outputs import PhaseAnalysis as PhaseAnalysis
from .outputs import PhaseConcurrency as PhaseConcurrency
from .outputs import PhaseCost as PhaseCost
from .outputs import ReportInputs as ReportInputs
from .phase import analyse_phase as analyse_phase
from .phase import best_validated as best_validated
from .report import launch_proposal as launch_proposal
from .report import write_report as write_report
from .stats import Comparison as Comparison
from .stats import Interaction as Interaction
from .stats import compare as compare
from .stats import interaction as interaction
