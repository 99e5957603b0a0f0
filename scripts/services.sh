#!/usr/bin/env bash
# The PostgreSQL the test suite uses (127.0.0.1:5432, trust auth). The machine starts it; if it stopped,
# start it again the way the machine does.
set -uo pipefail
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true; done
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 0.5; done
fi
echo "services: PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL tests will fail (set PODSWITCH_SKIP_PG=1 to skip them knowingly)" >&2
exit 0
