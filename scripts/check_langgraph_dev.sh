#!/usr/bin/env bash
# The real check of REA under `langgraph dev` (docs/langgraph-studio.md), end to end:
#   1. a throwaway venv with REA + langgraph-cli[inmem] (it needs older grpcio / protobuf /
#      jsonschema-rs than constraints.txt pins, so it never goes into .venv);
#   2. `langgraph dev` on a free loopback port, serving langgraph.json (paths made absolute in a
#      copy under the work dir, so the server's .langgraph_api/ and REA_HOME land there);
#   3. scripts/langgraph_dev_drive.py: a tiny campaign over HTTP — job wait, webhook wake-up,
#      plan approval (HITL shape), a chat line, approvals to the end. Prints a JSON report.
# Usage: bash scripts/check_langgraph_dev.sh      (exit 0 = every check passed)
# Env: REA_CHECK_DIR (work dir; default a new /tmp dir), REA_CHECK_VENV (reuse a venv),
#      REA_CHECK_BUDGET (trainer-seconds, default 60), KEEP=1 (keep the work dir).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${REA_CHECK_DIR:-$(mktemp -d /tmp/rea-langgraph-dev.XXXXXX)}"
venv="${REA_CHECK_VENV:-$work/venv}"
mkdir -p "$work"
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*" >&2; }

# --- 1. the venv ---------------------------------------------------------------------------
if [ ! -x "$venv/bin/langgraph" ]; then
  say "installing REA + langgraph-cli[inmem] into $venv"
  python3 -m venv "$venv"
  uv="$repo/.venv/bin/uv"
  if [ ! -x "$uv" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check uv==0.13.9
    uv="$venv/bin/uv"
  fi
  links=()
  [ -d /opt/wheels ] && links=(--find-links /opt/wheels)
  # constraints.txt minus the three pins the LangGraph server needs older versions of
  grep -vE '^(grpcio|protobuf|jsonschema-rs)==' "$repo/constraints.txt" >"$work/constraints.txt"
  "$uv" pip install -q --python "$venv/bin/python" --compile-bytecode "${links[@]}" \
    -c "$work/constraints.txt" "torch==2.13.0" -e "$repo" \
    "langgraph-cli[inmem]==0.4.40" "langgraph-api==0.16.7" "langgraph-runtime-inmem==0.36.7"
fi
"$venv/bin/python" -c "import chromadb, torch, langgraph_api; assert torch.__version__.startswith('2.13.0')"

# --- 2. the server -------------------------------------------------------------------------
"$venv/bin/python" - "$repo" "$work" <<'PY'
import json, sys
repo, work = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{repo}/langgraph.json"))
def absolute(p): return f"{repo}/{p[2:]}" if p.startswith("./") else p
for key, spec in cfg["graphs"].items():
    if isinstance(spec, dict):
        spec["path"] = absolute(spec["path"])
    else:
        cfg["graphs"][key] = absolute(spec)
cfg["http"]["app"] = absolute(cfg["http"]["app"])
cfg["dependencies"] = [repo]
json.dump(cfg, open(f"{work}/langgraph.json", "w"), indent=2)
PY
port=$("$venv/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
secret=$("$venv/bin/python" -c "import secrets; print(secrets.token_hex(16))")
url="http://127.0.0.1:$port"
cleanup() {
  if [ -f "$work/server.pid" ]; then
    kill -INT -- "-$(cat "$work/server.pid")" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$(cat "$work/server.pid")" 2>/dev/null || break; sleep 1; done
  fi
  # training jobs run in their own sessions: stop the ones this check started
  for f in "$work"/rea-home/jobs/*/launched.json; do
    [ -f "$f" ] || continue
    pid=$("$venv/bin/python" -c "import json, sys; print(json.load(open(sys.argv[1]))['pid'])" "$f")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$work/rea-home"; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  [ "${KEEP:-0}" = 1 ] || [ -n "${REA_CHECK_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
say "starting langgraph dev on $url (logs: $work/server.log)"
(
  cd "$work"
  LANGGRAPH_CLI_NO_ANALYTICS=1 REA_HOME="$work/rea-home" REA_BRAIN=offline \
    REA_WEBHOOK_SECRET="$secret" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False \
    setsid "$venv/bin/langgraph" dev --config "$work/langgraph.json" --no-browser \
    --host 127.0.0.1 --port "$port" --no-reload >"$work/server.log" 2>&1 &
  echo $! >"$work/server.pid"
)
for _ in $(seq 240); do
  curl -sf -m 2 "$url/rea/healthz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$work/server.pid")" 2>/dev/null || { tail -40 "$work/server.log"; exit 1; }
  sleep 1
done
curl -sf -m 2 "$url/rea/healthz" >/dev/null || { tail -40 "$work/server.log"; exit 1; }
say "server up"

# --- 3. the campaign -----------------------------------------------------------------------
status=0
"$venv/bin/python" "$repo/scripts/langgraph_dev_drive.py" "$url" "$secret" | tee "$work/report.json" ||
  status=$?
say "done (exit $status)"
exit "$status"
