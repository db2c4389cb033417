#!/usr/bin/env bash
# Starts PostgreSQL and RabbitMQ on this machine if they are not running, and waits for both.
set -euo pipefail
# A server started from here must not inherit our file descriptors: run as
# `flock /tmp/leadrouter-machine.lock scripts/ensure-services.sh`, it would otherwise
# hold the machine lock for as long as it runs. (255 is the descriptor bash reads this
# script from.)
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then eval "exec $fd>&-"; fi
done 2>/dev/null
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL..." >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  if rabbitmqctl -q ping >/dev/null 2>&1; then
    # The node runs but its application was stopped (`rabbitmqctl stop_app`).
    echo "starting the RabbitMQ application..." >&2
    rabbitmqctl -q start_app
  else
    echo "starting RabbitMQ..." >&2
    rabbitmq-server -detached
  fi
fi
for _ in $(seq 1 90); do
  if pg_isready -q -h 127.0.0.1 -p 5432 && rabbitmqctl -q await_startup >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL or RabbitMQ did not come up within 90 s" >&2
exit 1
