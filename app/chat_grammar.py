"""The chat's offline command grammar: a line of text → a `Command`, forgiving with phrasing.

    parse("what's the best so far?")         -> Command("best")
    parse("why did job 12 fail?")            -> Command("job", {"ref": "12"})
    parse("add 2 minutes")                   -> Command("add_budget", {"seconds": 120.0})
    parse("start dcn_v2 on synthetic:tiny budget 60 goal: beat 0.97")
        -> Command("start", {"model": "dcn_v2", "data": "synthetic:tiny", "budget": 60.0,
                             "goal": "beat 0.97"})

`parse` returns None for text it does not understand; `closest` then names the commands the
text most resembles. The rules are tried in order (first match wins), so a specific phrase
("stop after this phase") is matched before a general one ("stop").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rea.trainers.config import MODEL_FAMILIES

HELP = """\
I run and steer ML-experimentation campaigns. Commands (plain phrasing works too):
- `start MODEL on DATA budget SECONDS [goal: …]` — e.g.
  `start dcn_v2 on synthetic:interaction-heavy?rows=60000 budget 240 goal: lower NE`
  (also `new campaign model=… data=… budget=…`)
- `status` — where the campaign is, budget used, what it waits on
- `best` / "what's the best so far?" — best validation NE vs the baseline
- `jobs` — every training job; `why did job 3 fail?` (3 = the 3rd job, or a job id)
- `approvals` — what waits on you, summarised (the plan: hypotheses, cost, budget split)
- `approve [ID]`, `reject [ID] [because …]`, `edit ID {json}` — answer an approval
- `skip exploitation` / `skip combination`, `wrap up` (stop after this phase)
- `add budget 120` / `add 2 minutes` — more trainer-seconds
- `cancel`, `report`, `campaigns`, `use CAMPAIGN_ID`"""

# (what a user would type, the command it names) — for "did you mean" suggestions
VOCABULARY: dict[str, str | tuple[str, ...]] = {
    "help": "help",
    "start": "start MODEL on DATA budget SECONDS",
    "new": "start MODEL on DATA budget SECONDS",
    "status": "status",
    "progress": "status",
    "best": "best",
    "jobs": "jobs",
    "job": "why did job N fail?",
    "fail": "why did job N fail?",
    "why": "why did job N fail?",
    "approvals": "approvals",
    "pending": "approvals",
    "approve": "approve [ID]",
    "reject": "reject [ID] because …",
    "edit": "edit ID {json}",
    "skip": "skip exploitation",
    "wrap": "wrap up",
    "stop": ("wrap up", "cancel"),
    "halt": "cancel",
    "finish": "wrap up",
    "budget": "add budget SECONDS",
    "add": "add budget SECONDS",
    "more": "add budget SECONDS",
    "cancel": "cancel",
    "abort": "cancel",
    "report": "report",
    "campaigns": "campaigns",
    "use": "use CAMPAIGN_ID",
    "switch": "use CAMPAIGN_ID",
}
DEFAULT_SUGGESTIONS = ["status", "approvals", "help"]
APPROVAL_KINDS = ("plan", "budget", "escalation", "launch")
FILLER = {"it", "this", "that", "the", "a", "an", "one", "please", "now", "request", "proposal"}

_I = re.IGNORECASE
_NUMBER = r"(?P<num>\d+(?:\.\d+)?)"
_UNIT = r"(?P<unit>hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s|trainer-?s(?:econds)?)"
_DATA_REF = re.compile(
    r"(?:data\s*[=:]\s*)?[\"']?(?P<ref>(?:synthetic|criteo|libfm|csv):[^\s\"']+)", _I
)
_CAMPAIGN_ID = re.compile(r"\b(c-[0-9a-z]{6,})\b", _I)


@dataclass(frozen=True)
class Command:
    """One parsed request: `name` is the handler, `args` its arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


def parse(text: str) -> Command | None:
    """The command `text` asks for, or None (see the module docstring)."""
    line = " ".join(text.strip().split())
    line = line.rstrip("?!. ") if not line.endswith("}") else line
    if not line:
        return None
    for rule in _RULES:
        command = rule(line)
        if command is not None:
            return _with_campaign(command, line)
    return None


def closest(text: str, n: int = 3) -> list[str]:
    """The commands `text` most resembles, best first (at least one suggestion)."""
    words = re.findall(r"[a-z]+", text.lower())
    found: list[str] = []
    for word in words:
        for match in difflib.get_close_matches(word, VOCABULARY, n=2, cutoff=0.75):
            names = VOCABULARY[match]
            for name in (names,) if isinstance(names, str) else names:
                if name not in found:
                    found.append(name)
    return (found or DEFAULT_SUGGESTIONS)[:n]


def seconds_of(number: str, unit: str | None) -> float:
    """`2`, `minutes` → 120.0 (no unit: seconds)."""
    value = float(number)
    unit = (unit or "s").lower()
    if unit.startswith("h"):
        return value * 3600
    if unit.startswith("m"):
        return value * 60
    return value


def approval_target(words: str) -> dict[str, Any]:
    """What `approve …` / `reject …` names: an approval id, a kind ("the plan"), or nothing."""
    tokens = [t for t in re.split(r"\s+", words.strip()) if t and t.lower() not in FILLER]
    out: dict[str, Any] = {}
    for token in tokens:
        low = token.lower().strip(",;")
        if low in APPROVAL_KINDS:
            out["kind"] = low
        elif re.fullmatch(r"[\w.:-]+", token) and ("-" in token or any(c.isdigit() for c in token)):
            out["id"] = token
    return out


# --- rules (tried in order) ---------------------------------------------------------------
def _help(line: str) -> Command | None:
    pattern = (
        r"^(help|h|\?|commands|usage|menu|what can (you|i) (do|say|ask)|how does (this|it) work)$"
    )
    return Command("help") if re.match(pattern, line, _I) else None


def _edit(line: str) -> Command | None:
    m = re.match(r"^edit\b\s*(?P<id>[^\s{]+)?\s*(?P<json>\{.*)?$", line, _I | re.S)
    if not m:
        return None
    return Command("edit", {"id": m["id"], "raw": m["json"]})


def _start(line: str) -> Command | None:
    verbs = r"^(start|new|run|begin|create|kick off|launch a|launch new)\b"
    if not re.match(verbs, line, _I):
        return None
    rest = line
    args: dict[str, Any] = {}
    goal = re.search(r"\bgoal\s*[:=]\s*(?P<goal>.+)$", rest, _I | re.S)
    if goal:
        args["goal"] = goal["goal"].strip().strip("\"'")
        rest = rest[: goal.start()]
    data = _DATA_REF.search(rest)
    if data:
        args["data"] = data["ref"]
        rest = rest[: data.start()] + " " + rest[data.end() :]
    model = re.search(r"\bmodel\s*[=:]\s*(?P<model>[\w-]+)", rest, _I)
    if model:
        args["model"] = model["model"]
    else:
        families = "|".join(MODEL_FAMILIES)
        named = re.search(rf"\b({families})\b", rest, _I)
        if named:
            args["model"] = named[1].lower()
    budget = re.search(rf"\bbudget\s*(?:[=:]|of)?\s*{_NUMBER}\s*{_UNIT}?\b", rest, _I)
    budget = budget or re.search(rf"\b{_NUMBER}\s*{_UNIT}\b", rest, _I)
    if budget:
        args["budget"] = seconds_of(budget["num"], budget["unit"])
    return Command("start", args)


def _use(line: str) -> Command | None:
    m = re.match(
        r"^(use|switch to|switch|select|open|focus on)\s+(campaign\s+)?(?P<id>[\w.:-]+)$", line, _I
    )
    return Command("use", {"campaign_id": m["id"]}) if m else None


def _skip(line: str) -> Command | None:
    asks = re.search(r"\b(skip|no|without|drop|don'?t do|do not do|don'?t run|no more)\b", line, _I)
    phases = []
    if re.search(r"\bcombin\w*", line, _I):
        phases.append("combination")
    if re.search(r"\bexploit\w*", line, _I):
        phases.append("exploitation")
    return Command("skip", {"phases": phases}) if asks and phases else None


def _wrap_up(line: str) -> Command | None:
    pattern = (
        r"\bwrap(\s+it)?\s+up\b|\bstop after (this|the current|the) (phase|round)\b|"
        r"\bfinish (up|now|early|it)\b|\bstop exploring\b|\bcall it a day\b|\bthat'?s enough\b"
    )
    return Command("wrap_up") if re.search(pattern, line, _I) else None


def _add_budget(line: str) -> Command | None:
    verb = re.match(r"^(add|raise|increase|extend|give( it)?|top up|more)\b", line, _I)
    if not verb and not re.search(
        r"\b(more|extra|additional)\b.*\bbudget\b|\bbudget\b.*\b(more|by)\b", line, _I
    ):
        return None
    amount = re.search(rf"\b{_NUMBER}\s*{_UNIT}?\b", line, _I)
    if not amount:
        return Command("add_budget", {"seconds": None})
    unit = amount["unit"] or _unit_word(line)
    return Command("add_budget", {"seconds": seconds_of(amount["num"], unit)})


def _unit_word(line: str) -> str | None:
    """ "give it 5 more minutes": the unit is not next to the number."""
    m = re.search(r"\b(hours?|hrs?|minutes?|mins?|seconds?|secs?)\b", line, _I)
    return m[1] if m else None


def _reject(line: str) -> Command | None:
    m = re.match(r"^(reject|decline|deny|refuse)\b(?P<rest>.*)$", line, _I | re.S)
    if not m:
        return None
    parts = re.split(r"(\bbecause\b|\bsince\b|:|—|--)", m["rest"], maxsplit=1, flags=_I)
    why = parts[2].strip() if len(parts) == 3 else ""
    return Command("reject", {**approval_target(parts[0]), "message": why or None})


def _approve(line: str) -> Command | None:
    m = re.match(r"^(approve|approved|accept)\b(?P<rest>.*)$", line, _I)
    if m:
        return Command("approve", approval_target(m["rest"]))
    # A bare "yes" / "ok" approves; "ok thanks" or "yes but …" must not.
    loose = r"^(yes|y|ok|okay|go ahead|go|lgtm|sounds good|ship it)\b(?P<rest>.*)$"
    m = re.match(loose, line, _I)
    words = set(re.findall(r"[a-z]+", m["rest"].lower())) if m else {"-"}
    if m and words <= FILLER | set(APPROVAL_KINDS) | {"go", "ahead", "do", "approve"}:
        return Command("approve", approval_target(m["rest"]))
    return None


def _job(line: str) -> Command | None:
    asks = re.search(
        r"\b(why|fail\w*|explain|what happened|show|log|details?|tell me about)\b", line, _I
    )
    m = re.search(r"\bjob\s*(?:#|no\.?|number)?\s*(?P<ref>[\w.:-]*\d[\w.:-]*)", line, _I)
    if m and (asks or re.match(r"^job\b", line, _I)):
        return Command("job", {"ref": m["ref"].lstrip("#")})
    if re.search(r"\bwhy\b.*\bfail|\bwhat failed\b|^failures?$|\blast failure\b", line, _I):
        return Command("job", {"ref": None})
    return None


def _jobs(line: str) -> Command | None:
    pattern = (
        r"^(jobs|list( the)? jobs|show( me)?( the)? jobs|(the )?running jobs|"
        r"what('s| is) running|trials|experiments)$"
    )
    return Command("jobs") if re.match(pattern, line, _I) else None


def _approvals(line: str) -> Command | None:
    pattern = (
        r"^(approvals|pending|pending approvals|what('s| is) pending|show( me)?( the)? plan|"
        r"(the )?plan|what are you waiting (on|for)|what do you need( from me)?|waiting|"
        r"what needs (my )?(approval|decision))$"
    )
    return Command("approvals") if re.match(pattern, line, _I) else None


def _best(line: str) -> Command | None:
    pattern = (
        r"\bbest\b|\btop (result|config)\b|\bwinner\b|\bhow good\b|\bany (gain|improvement)s?\b"
    )
    return Command("best") if re.search(pattern, line, _I) else None


def _cancel(line: str) -> Command | None:
    pattern = (
        r"^((cancel|abort|kill)( (the|this) campaign| it| everything| now)?|"
        r"stop (the|this) campaign( now)?)( c-\w+)?$"
    )
    return Command("cancel") if re.match(pattern, line, _I) else None


def _report(line: str) -> Command | None:
    pattern = (
        r"^(report|show( me)?( the)? report|the report|final report|summary|summari[sz]e|"
        r"results?)\b"
    )
    return Command("report") if re.match(pattern, line, _I) else None


def _campaigns(line: str) -> Command | None:
    pattern = (
        r"^(campaigns|list|ls|list campaigns|(show|all|my)( me)?( the)? campaigns|which campaigns)$"
    )
    return Command("campaigns") if re.match(pattern, line, _I) else None


def _status(line: str) -> Command | None:
    pattern = (
        r"^(status|state|progress|update|budget|how('s| is) (it|the campaign|everything) going|"
        r"how are (we|things) doing|where are we|what'?s happening|what'?s going on|"
        r"how much (budget|time)( is)?( left)?)\b|\bstatus\b|\bprogress\b|\bbudget\b"
    )
    return Command("status") if re.search(pattern, line, _I) else None


_RULES: list[Callable[[str], Command | None]] = [
    _help,
    _edit,
    _start,
    _use,
    _wrap_up,
    _skip,
    _add_budget,
    _reject,
    _approve,
    _job,
    _jobs,
    _approvals,
    _best,
    _cancel,
    _report,
    _campaigns,
    _status,
]


def _with_campaign(command: Command, line: str) -> Command:
    """A campaign id named anywhere in a query ("status c-1a2b3c4d") overrides the thread's."""
    if command.name in ("start", "use", "edit"):
        return command
    m = _CAMPAIGN_ID.search(line)
    return Command(command.name, {**command.args, "campaign_id": m[1]}) if m else command
