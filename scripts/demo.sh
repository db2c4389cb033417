#!/usr/bin/env bash
# leadrouter end to end on the sample rules: starts PostgreSQL and RabbitMQ if needed,
# builds, runs the daemon (config/demo.yaml: database leadrouter_demo, queues demo.*),
# publishes the 32 sample leads and shows the decisions, events and metrics.
# The daemon keeps running until Ctrl-C (or for DEMO_SECONDS seconds, if set).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-services.sh
cargo build --release --quiet
bin=target/release/leadrouter
psql_demo() { psql -h 127.0.0.1 -U postgres -d leadrouter_demo "$@"; }

echo "== checking the sample rules"
$bin check rules/routing.yaml

# A fresh demo database and queues each run, so the sample leads are decided anew.
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS leadrouter_demo WITH (FORCE)" >/dev/null
for q in demo.leads.inbound demo.leads.dead; do rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true; done

echo "== starting the daemon (log: target/demo.log)"
$bin run --config config/demo.yaml >target/demo.log 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; echo "daemon stopped"' EXIT
for _ in $(seq 1 60); do
  curl -sf http://127.0.0.1:9464/readyz >/dev/null && break
  kill -0 $daemon 2>/dev/null || { cat target/demo.log; exit 1; }
  sleep 0.5
done
curl -s http://127.0.0.1:9464/readyz

echo "== publishing rules/samples/leads.jsonl"
$bin publish --config config/demo.yaml rules/samples/leads.jsonl
printf '{"id": 42}\nnot json\n' | $bin publish --config config/demo.yaml   # two malformed messages
sleep 2

echo "== decisions (PostgreSQL: leads)"
psql_demo -c "SELECT lead_id, status, owner_id, queue, pool, rule FROM leads ORDER BY lead_id"
echo "== the explain trace of one decision (routing_decisions.trace)"
psql_demo -Atc "SELECT jsonb_pretty(trace) FROM routing_decisions WHERE lead_id = 'lead-0004'"
echo "== dead-lettered messages (queue demo.leads.dead) and events not yet relayed (outbox)"
rabbitmqctl -q list_queues name messages | grep -E '^demo\.' || true
psql_demo -Atc "SELECT 'outbox: ' || count(*) FROM outbox"
echo "== metrics (http://127.0.0.1:9464/metrics)"
curl -s http://127.0.0.1:9464/metrics | grep -E '^leadrouter_(leads_|events_published|ready|ruleset_info|unassigned_leads|outbox_pending)' || true

echo
echo "The daemon is running: http://127.0.0.1:9464/metrics, /readyz; try"
echo "  $bin publish --config config/demo.yaml rules/samples/leads.jsonl"
echo "  psql -h 127.0.0.1 -U postgres leadrouter_demo"
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else echo "Ctrl-C to stop."; wait $daemon; fi
