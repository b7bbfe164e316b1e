"""The web UI in a real headless Chromium against the real service on loopback: start a campaign
through the form, approve the plan on its card, watch it run to the end (approving the launch
proposal), and check the dashboard against the API. Skipped when no Chromium is installed
(CI installs Debian's `chromium`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
from chromium import Chromium, Page, find
from service_helpers import SECRET, ThreadServer

from rea.app.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find() is None,
        reason="no Chromium on PATH (apt-get install chromium, or set REA_CHROMIUM)",
    ),
]

DATA = "synthetic:tiny?rows=3000&seed=0"
BUDGET = 40
CARD = '[data-testid="approval-card"]'


def _card(kind: str) -> str:
    return f'{CARD}[data-kind="{kind}"]:not(.decided)'


def _status(page: Page) -> str:
    return page.text('[data-testid="campaign-status"]')


def _answer_open_cards(page: Page) -> list[str]:
    """Approve plan/launch cards, decline budget raises and escalations; the kinds answered."""
    answered = []
    for kind in ("plan", "launch", "budget", "escalation"):
        if not page.count(_card(kind)):
            continue
        if kind in ("plan", "launch"):
            page.click(f'{_card(kind)} [data-testid="approve-btn"]')
        else:
            page.click(f'{_card(kind)} [data-testid="reject-btn"]')
            page.fill(f'{_card(kind)} [data-testid="reject-message"]', "not in this test")
            page.click(f'{_card(kind)} [data-testid="confirm-reject-btn"]')
        answered.append(kind)
    return answered


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go when the test fails (kept in pytest's tmp dir)."""
    out = Path(os.environ.get("REA_UI_SHOTS", tmp_path / "shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_start_approve_and_watch_a_campaign_finish(tmp_path, shots):
    settings = Settings(home=tmp_path / "home", brain="offline", webhook_secret=SECRET)
    with ThreadServer(settings) as srv, Chromium.launch() as browser:
        page = browser.page
        try:
            _run(page, srv.url)
        except BaseException:
            print(f"screenshot: {page.screenshot(shots / 'failure.png')}")
            print("console:", *page.console[-20:], sep="\n  ")
            raise


def _run(page: Page, url: str) -> None:
    t0 = time.monotonic()
    page.goto(f"{url}/")
    page.wait_for("document.body.dataset.ready === '1'", timeout=15, what="the page to start")
    assert page.count('[data-testid="campaign-item"]') == 0

    # Start a campaign through the form.
    page.select('[data-testid="new-campaign-model"]', "dcn_v2")
    page.fill('[data-testid="new-campaign-data"]', DATA)
    page.fill('[data-testid="new-campaign-budget"]', str(BUDGET))
    page.fill('[data-testid="new-campaign-goal"]', "lower validation NE")
    page.click('[data-testid="new-campaign-submit"]')
    cid = page.wait_for(
        "document.querySelector('[data-testid=campaign-item].selected')?.dataset.campaignId",
        timeout=15,
        what="the new campaign to be listed and selected",
    )

    # The plan card: one row per planned experiment, and the budget split.
    page.wait_for(f"!!document.querySelector('{_card('plan')}')", timeout=120, what="the plan")
    assert _status(page) == "awaiting_approval"
    t_plan = time.monotonic() - t0
    plan = httpx.get(f"{url}/v1/approvals?campaign_id={cid}", timeout=10).json()["approvals"][0]
    planned = plan["interrupt"]["action_requests"][0]["args"]["experiments"]
    assert page.count(f'{_card("plan")} [data-testid="plan-experiment"]') == len(planned)
    for item in planned:  # (none when a loaded machine made the baseline eat the budget)
        assert item["title"] in page.text(_card("plan"))
    assert "validation" in page.text(f'{_card("plan")} [data-testid="plan-budget"]')

    # An edit the service refuses is shown on the card, which stays open ...
    page.click(f'{_card("plan")} [data-testid="edit-btn"]')
    edit_args = f"{_card('plan')} [data-testid=edit-args]"
    args = json.loads(page.eval(f"document.querySelector('{edit_args}').value"))
    assert args["experiments"] == planned
    args["budget"]["validation"] = 10 * BUDGET
    page.fill(edit_args, json.dumps(args))
    page.click(f'{_card("plan")} [data-testid="submit-edit-btn"]')
    error = page.wait_for(
        f"document.querySelector('{_card('plan')} [data-testid=approval-error]')?.textContent",
        timeout=10,
        what="the refused edit's message",
    )
    assert "budget split" in error
    # ... and approving it goes through.
    page.click(f'{_card("plan")} [data-testid="approve-btn"]')
    page.wait_for(
        "document.querySelector('[data-testid=approval-sent]')?.textContent.includes('approve')",
        timeout=10,
        what="the plan decision to be sent",
    )

    # Watch it run; answer what it asks (the launch proposal comes last).
    answered: list[str] = ["plan"]
    deadline = time.monotonic() + 150
    while _status(page) != "completed" and time.monotonic() < deadline:
        assert _status(page) not in ("failed", "cancelled"), page.text("#notes")
        answered += _answer_open_cards(page)
        time.sleep(0.5)
    assert _status(page) == "completed", f"still {_status(page)!r}; answered {answered}"
    assert "launch" in answered
    print(f"plan card after {t_plan:.0f} s, completed after {time.monotonic() - t0:.0f} s")

    # The dashboard agrees with the API.
    trials = httpx.get(f"{url}/v1/campaigns/{cid}/trials", timeout=10).json()
    finished = [t for t in trials["trials"] if t["val_ne"] is not None]
    page.wait_for(
        f"document.querySelectorAll('[data-testid=ne-point]').length === {len(finished)}",
        timeout=10,
        what=f"{len(finished)} points on the NE plot",
    )
    phases = [
        p["data-phase"]
        for p in page.eval(
            "[...document.querySelectorAll('[data-testid=ne-point]')]"
            ".map(c => ({'data-phase': c.dataset.phase}))"
        )
    ]
    assert phases == [t["phase"] for t in finished]
    assert page.count('[data-testid="ne-band"]') == 1 and trials["baseline"]
    assert page.count('[data-testid="phase-bar"]') == len(trials["phases"]) >= 1
    assert page.count('[data-testid="burn-point"]') == len(trials["budget_burn"]) >= 1
    view = httpx.get(f"{url}/v1/campaigns/{cid}", timeout=10).json()
    assert page.text('[data-testid="stat-trials"]').startswith(str(view["trials"]))
    assert page.text('[data-testid="stat-launch"]') == "approved"

    # The chat shows the campaign's progress lines; the report is linked.
    progress = page.eval(
        "[...document.querySelectorAll('[data-testid=chat-message][data-role=progress]')]"
        ".map(li => li.textContent)"
    )
    assert len(progress) >= 3, progress
    assert any("plan:" in line for line in progress), progress
    page.wait_for(
        "document.querySelector('[data-testid=report-markdown]')?.textContent.includes('# Campaign')",
        timeout=10,
        what="the report",
    )
    assert page.count('[data-testid="report-plot"]') >= 1

    # A chat message is answered over the SSE stream.
    agents = page.count('[data-testid="chat-message"][data-role="agent"]')
    page.fill('[data-testid="chat-input"]', "status")
    page.click('[data-testid="chat-send"]')
    page.wait_for(
        f"document.querySelectorAll('[data-testid=chat-message][data-role=agent]').length > {agents}",
        timeout=20,
        what="the agent's reply",
    )
    assert cid in page.eval(
        "[...document.querySelectorAll('[data-testid=chat-message][data-role=agent]')].at(-1).textContent"
    )
    assert page.errors == []


def test_asks_for_the_api_token_and_keeps_it(tmp_path):
    settings = Settings(
        home=tmp_path / "home", brain="offline", webhook_secret=SECRET, api_token="s3cret-token"
    )
    with ThreadServer(settings) as srv, Chromium.launch() as browser:
        page = browser.page
        page.goto(f"{srv.url}/")
        page.wait_for(
            "!document.querySelector('[data-testid=token-form]').hidden",
            timeout=15,
            what="the token field after a 401",
        )
        page.fill('[data-testid="token-input"]', "s3cret-token")
        page.click('[data-testid="token-save"]')
        page.wait_for(
            "document.querySelector('[data-testid=token-form]').hidden"
            " && document.getElementById('conn').textContent === ''",
            timeout=15,
            what="the page to work with the token",
        )
        assert page.eval("localStorage.getItem('rea.token')") == "s3cret-token"
        created = httpx.post(
            f"{srv.url}/v1/campaigns",
            json={"model": "lr", "data": DATA, "budget_seconds": 5},
            headers={"Authorization": "Bearer s3cret-token"},
            timeout=10,
        ).json()
        # A reload keeps the token: the new campaign is listed without asking again.
        page.goto(f"{srv.url}/")
        page.wait_for(
            f"!!document.querySelector('[data-campaign-id=\"{created['campaign_id']}\"]')",
            timeout=15,
            what="the campaign list, with the stored token",
        )
        assert page.eval("document.querySelector('[data-testid=token-form]').hidden")
        httpx.post(
            f"{srv.url}/v1/campaigns/{created['campaign_id']}/cancel",
            headers={"Authorization": "Bearer s3cret-token"},
            timeout=10,
        )
        assert page.errors == []
