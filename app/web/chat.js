// The chat with the agent: one thread per campaign (its thread id), or a client-side thread
// for "no campaign yet" kept in localStorage. History from GET /v1/threads/{tid}/messages; a
// message is POSTed and the reply read as server-sent events (message, progress, status,
// approval, done) from the response body.

import { api, postMessage } from "./api.js";
import { h } from "./approvals.js";

const LOCAL_THREAD_KEY = "rea.chatThread";

/** The browser's own thread id for chatting before any campaign exists. */
export function localThread() {
  let tid = localStorage.getItem(LOCAL_THREAD_KEY);
  if (!tid) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    tid = `ui-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    localStorage.setItem(LOCAL_THREAD_KEY, tid);
  }
  return tid;
}

function time(iso) {
  const t = iso ? new Date(/([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`) : new Date();
  return Number.isNaN(t.getTime()) ? "" : t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * The same line can reach the log from three sources — the thread's stored history, the live
 * reply stream, and the campaign view's notes (progress not stored in the thread) — so each
 * (role, text) is shown as many times as the source that saw it most often reports it.
 */
class Seen {
  constructor() {
    this.counts = new Map(); // "source\0role\0text" -> times that source reported it
    this.shown = new Map(); // "role\0text" -> times it is in the log
  }

  /** Count one report; true when it is new to the log. */
  add(source, role, text) {
    const line = `${role}\0${text}`;
    const key = `${source}\0${line}`;
    const n = (this.counts.get(key) || 0) + 1;
    this.counts.set(key, n);
    if (n <= (this.shown.get(line) || 0)) return false;
    this.shown.set(line, n);
    return true;
  }
}

/** The agent's light markdown as DOM nodes (never innerHTML): `code` and **bold**. */
function rich(text) {
  return text.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/).map((part) => {
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) return h("code", {}, part.slice(1, -1));
    if (part.length > 4 && part.startsWith("**") && part.endsWith("**")) return h("strong", {}, part.slice(2, -2));
    return part;
  });
}

export class Chat {
  /** `onEvent(name, data)` is told about every stream event (the page refreshes on them). */
  constructor({ log, form, input, threadLabel, onEvent }) {
    Object.assign(this, { log, form, input, threadLabel, onEvent });
    this.thread = null;
    this.lastId = 0; // the newest stored message shown
    this.notes = new Map(); // campaign id -> how many of its notes were fed
    this.seen = new Seen();
    this.campaigns = new Set(); // campaigns this thread's messages are about
    this.lastCampaign = null;
    this.streaming = false;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
  }

  async open(threadId) {
    if (threadId === this.thread) return;
    this.thread = threadId;
    this.lastId = 0;
    this.notes = new Map();
    this.seen = new Seen();
    this.campaigns = new Set();
    this.lastCampaign = null;
    this.log.replaceChildren();
    this.threadLabel.textContent = threadId || "";
    await this.sync();
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** Append the thread's stored messages not shown yet. */
  async sync() {
    const thread = this.thread;
    if (!thread) return;
    const enc = encodeURIComponent(thread);
    const body = await api(`/v1/threads/${enc}/messages?after=${this.lastId}`);
    if (thread !== this.thread) return;
    for (const m of body.messages || []) {
      if (m.id <= this.lastId) continue;
      this.lastId = m.id;
      if (m.campaign_id) {
        this.campaigns.add(m.campaign_id);
        this.lastCampaign = m.campaign_id;
      }
      if (this.seen.add("history", m.role, m.content)) this.append(m.role, m.content, m.at);
    }
  }

  /** Show the campaign's progress notes (the view's `notes`) this thread has not shown. */
  feedNotes(campaignId, notes) {
    const done = this.notes.get(campaignId) || 0;
    for (const line of notes.slice(done)) {
      if (this.seen.add("notes", "progress", line)) this.append("progress", line);
    }
    this.notes.set(campaignId, Math.max(done, notes.length));
  }

  append(role, content, at, extra = {}) {
    const li = h("li", { class: `msg msg-${role}`, "data-testid": "chat-message", "data-role": role, ...extra },
      role === "user" || role === "agent"
        ? [h("span", { class: "who" }, role === "user" ? "you" : "agent", " · ", time(at)), h("div", { class: "body" }, role === "agent" ? rich(content) : content)]
        : h("span", { class: "line" }, h("span", { class: "who" }, time(at)), " ", content));
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    this.log.append(li);
    if (atBottom || role === "user") this.log.scrollTop = this.log.scrollHeight;
    return li;
  }

  showLive(role, content) {
    if (this.seen.add("stream", role, content)) this.append(role, content);
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || this.streaming || !this.thread) return;
    this.input.value = "";
    this.streaming = true;
    this.form.classList.add("busy");
    this.showLive("user", text);
    const typing = this.append("typing", "agent is working…", undefined, { "aria-busy": "true" });
    try {
      await postMessage(this.thread, text, (name, data) => this.event(name, data));
    } catch (e) {
      this.append("error", e.message);
    } finally {
      typing.remove();
      this.streaming = false;
      this.form.classList.remove("busy");
      this.onEvent("end", {});
      await this.sync().catch(() => {});
    }
  }

  event(name, data) {
    if (data?.campaign_id) {
      this.campaigns.add(data.campaign_id);
      this.lastCampaign = data.campaign_id;
    }
    if (name === "message") this.showLive(data.role || "agent", data.content ?? "");
    else if (name === "progress") this.showLive("progress", data.line ?? "");
    else if (name === "status") {
      const best = Number.isFinite(data.best_val_ne) ? ` · best val NE ${data.best_val_ne.toFixed(4)}` : "";
      const used = Number.isFinite(data.budget_used_seconds) ? ` · ${data.budget_used_seconds.toFixed(1)} s used` : "";
      this.append("status", `${data.campaign_id || ""}: ${data.status}${data.phase ? ` (${data.phase})` : ""}${used}${best}`);
    } else if (name === "approval") {
      this.append("status", `waiting for your decision: ${data.kind} (${data.approval_id}) — see the dashboard`);
    } else if (name === "error") {
      this.append("error", data.detail || data.message || data.content || "the stream failed");
    }
    this.onEvent(name, data);
  }
}
