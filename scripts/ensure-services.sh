#!/usr/bin/env bash
# Starts PostgreSQL and RabbitMQ on this machine if they are not running, and waits for both.
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL..." >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ..." >&2
  rabbitmq-server -detached
fi
for _ in $(seq 1 90); do
  if pg_isready -q -h 127.0.0.1 -p 5432 && rabbitmqctl -q await_startup >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL or RabbitMQ did not come up within 90 s" >&2
exit 1
