#!/usr/bin/env bash
# Property-based run of the admin API's OpenAPI document against a real `serve`
# (schemathesis, from PyPI, in a venv under target/): for every endpoint, generated
# requests, valid and not, with an admin token; fails on any 5xx and on any response
# that breaks its documented schema. A bounded number of examples per operation keeps
# it to a few minutes (API_FUZZ_EXAMPLES, default 40).
#
# Needs PostgreSQL and RabbitMQ (scripts/ensure-services.sh). Uses a database and
# queues of its own, dropped at the end, and the sample rules: a daemon routes the
# sample leads first, so the lead endpoints have leads to work on (the path parameter
# `id` is pinned to one of them; the coverage phase still tries unknown ids).
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${API_FUZZ_EXAMPLES:-40}"
VENV="target/api-fuzz-venv"
PG="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
DB="leadrouter_api_fuzz_$$"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# Pinned versions (scripts/api-fuzz-requirements.txt, schemathesis 4.32.5); installed
# again when the list changes.
REQS=scripts/api-fuzz-requirements.txt
if ! cmp -s "$REQS" "$VENV/requirements.txt" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
    cp "$REQS" "$VENV/requirements.txt"
fi

cargo build --quiet --bin leadrouter
BIN=target/debug/leadrouter
WORK="$(mktemp -d)"
SERVE_PID=""
Q="api-fuzz-$$"
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    for q in "$Q.inbound" "$Q.dead"; do rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true; done
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="$PG/$DB"
export LEADROUTER_RULES__SOURCE=database
export LEADROUTER_ADMIN__LISTEN="127.0.0.1:$PORT"
"$BIN" migrate >/dev/null
"$BIN" rules publish rules/routing.yaml --as fuzz --note "sample rules" >/dev/null
TOKEN="$("$BIN" tokens add fuzz-admin --role admin --as fuzz 2>/dev/null)"
# The sample leads, routed by a daemon with queues of its own (stopped once done).
cat >"$WORK/run.yaml" <<YAML
amqp: {queue: $Q.inbound, dead_letter_queue: $Q.dead, events_exchange: api-fuzz.events}
http: {listen: "127.0.0.1:0"}
YAML
"$BIN" run --config "$WORK/run.yaml" >"$WORK/run.log" 2>&1 &
RUN_PID=$!
"$BIN" publish --config "$WORK/run.yaml" rules/samples/leads.jsonl >/dev/null
for _ in $(seq 100); do
    n="$(psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM leads')"
    [ "$n" -ge 32 ] && break
    sleep 0.2
done
kill "$RUN_PID" && wait "$RUN_PID" || true
LEAD="$(psql "$DATABASE_URL" -Atc 'SELECT lead_id FROM leads ORDER BY lead_id LIMIT 1')"
printf '[parameters]\n"path.id" = "%s"\n' "$LEAD" >"$WORK/schemathesis.toml"

"$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    sleep 0.2
done

status=0
"$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --url "http://127.0.0.1:$PORT" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$EXAMPLES" \
    --seed 17 \
    --no-color || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- serve's log (last 40 lines)" >&2
    tail -n 40 "$WORK/serve.log" >&2
fi
exit "$status"
