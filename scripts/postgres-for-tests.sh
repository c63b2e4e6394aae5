#!/usr/bin/env bash
# Prints a PostgreSQL URL for the test suite, starting the machine's Debian PostgreSQL cluster
# and creating the test role and database when needed. Prints nothing when no PostgreSQL is
# installed (the PostgreSQL half of the suite is then skipped, and says so).
set -u
if [ -n "${PRIORAUTH_TEST_POSTGRES_URL:-}" ]; then echo "$PRIORAUTH_TEST_POSTGRES_URL"; exit 0; fi
command -v pg_lsclusters >/dev/null 2>&1 || exit 0
cluster=$(pg_lsclusters -h 2>/dev/null | head -n 1)
if [ -z "$cluster" ] && command -v pg_createcluster >/dev/null 2>&1; then
  # Installed without a cluster (some container images): make the default one.
  installed=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$installed" ] && pg_createcluster "$installed" main >/dev/null 2>&1
  cluster=$(pg_lsclusters -h 2>/dev/null | head -n 1)
fi
[ -n "$cluster" ] || exit 0
ver=$(echo "$cluster" | awk '{print $1}'); name=$(echo "$cluster" | awk '{print $2}')
port=$(echo "$cluster" | awk '{print $3}'); status=$(echo "$cluster" | awk '{print $4}')
if [ "$status" != "online" ]; then
  pg_ctlcluster "$ver" "$name" start >/dev/null 2>&1 || exit 0
fi
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -n -u postgres sh -c "$1"; fi; }
as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='priorauth'\"" 2>/dev/null | grep -q 1 \
  || as_postgres "psql -p $port -qc \"CREATE ROLE priorauth LOGIN PASSWORD 'priorauth' CREATEDB\"" >/dev/null 2>&1 \
  || exit 0
as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='priorauth_test'\"" 2>/dev/null | grep -q 1 \
  || as_postgres "createdb -p $port -O priorauth priorauth_test" >/dev/null 2>&1 || exit 0
echo "postgresql+psycopg://priorauth:priorauth@127.0.0.1:$port/priorauth_test"
