// The REA HTTP API from the browser: JSON calls, the chat's server-sent events, report blobs.
// A 401 anywhere calls `onUnauthorized` (the page then shows its token field); the token is
// kept in localStorage and sent as `Authorization: Bearer …`.

const TOKEN_KEY = "rea.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const auth = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  onUnauthorized: () => {},
  set(token) {
    this.token = token.trim();
    if (this.token) localStorage.setItem(TOKEN_KEY, this.token);
    else localStorage.removeItem(TOKEN_KEY);
  },
};

function headers(json) {
  const h = {};
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function problem(resp) {
  // application/problem+json {title, detail}; FastAPI's own 422 has detail as a list.
  try {
    const body = await resp.json();
    const detail = body.detail ?? body.title;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch {
    return resp.statusText || `HTTP ${resp.status}`;
  }
}

async function send(path, { method = "GET", body, accept } = {}) {
  const init = { method, headers: headers(body !== undefined) };
  if (accept) init.headers.Accept = accept;
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    auth.onUnauthorized();
    throw new ApiError(401, "the service needs an API token: enter it at the top right");
  }
  if (!resp.ok) throw new ApiError(resp.status, await problem(resp));
  return resp;
}

/** GET/POST a JSON endpoint and return the parsed body. */
export async function api(path, options = {}) {
  const resp = await send(path, options);
  return resp.status === 204 ? null : resp.json();
}

/** An object URL for a binary resource (report plots), fetched with the token when there is one. */
export async function blobUrl(path) {
  const resp = await send(path);
  return URL.createObjectURL(await resp.blob());
}

/**
 * POST a chat message and call `onEvent(name, data)` for every server-sent event of the reply
 * stream (EventSource cannot POST, so the body is read here). Resolves when the stream ends.
 */
export async function postMessage(threadId, content, onEvent) {
  const resp = await send(`/v1/threads/${encodeURIComponent(threadId)}/messages`, {
    method: "POST",
    body: { content },
    accept: "text/event-stream",
  });
  const type = resp.headers.get("Content-Type") || "";
  if (!type.startsWith("text/event-stream")) {
    // A plain JSON answer (no stream): treat it as the agent's one message.
    const body = await resp.json();
    onEvent("message", body);
    return;
  }
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // comment / keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  const text = data.join("\n");
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { content: text };
  }
  onEvent(name, parsed);
}
