#!/usr/bin/env bash
# The servers the test suite uses, all on 127.0.0.1: PostgreSQL (5432, trust auth) and, for the Neutron
# end-to-end tests, MariaDB (3306, root without a password) and RabbitMQ (5672, guest/guest). The machine
# starts them; if one stopped, start it again the way the machine does.
set -uo pipefail

answers() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

postgresql() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true; done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 0.5; done
  fi
  echo "services: PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL tests will fail (set PODSWITCH_SKIP_PG=1 to skip them knowingly)" >&2
}

# $1 name, $2 port, $3 init script
by_init_script() {
  answers "$2" && return
  [ -x "$3" ] && "$3" start >/dev/null 2>&1
  for _ in $(seq 1 60); do answers "$2" && return; sleep 0.5; done
  echo "services: $1 is not answering on 127.0.0.1:$2; the Neutron end-to-end tests (integrations/neutron/tests/e2e) will fail" >&2
}

postgresql
by_init_script MariaDB 3306 /etc/init.d/mariadb
by_init_script RabbitMQ 5672 /etc/init.d/rabbitmq-server
exit 0
