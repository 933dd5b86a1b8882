# Sourced by `make test`: make sure PostgreSQL runs and chromium is installed, and export where they are.
# Where either cannot be had, say so loudly; the tests that need it then fail in CI (never skip silently).

. scripts/apt.sh  # (sourced from the repository root, as make and .ci/run do)

_start_postgres() {
  if [ -n "${KAOHE_TEST_PG_URL:-}" ]; then return 0; fi
  command -v pg_ctlcluster >/dev/null || _apt_install postgresql || { _say "PostgreSQL could not be installed"; return 1; }
  local version
  version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { _say "no PostgreSQL version found"; return 1; }
  pg_lsclusters -h 2>/dev/null | grep -q "^$version main" || _as_root pg_createcluster "$version" main >/dev/null 2>&1
  pg_lsclusters -h | grep -q "^$version main .* online" || _as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || { _say "PostgreSQL $version would not start"; return 1; }
  _as_root su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='kaohe'\"" | grep -q 1 \
    || _as_root su postgres -c "psql -qc \"create role kaohe login password 'kaohe' createdb\"" >/dev/null
  # DROP DATABASE … WITH (FORCE) terminates whatever is connected, an autovacuum worker too, which needs this
  _as_root su postgres -c "psql -qc 'grant pg_signal_backend to kaohe'" >/dev/null 2>&1
  export KAOHE_TEST_PG_URL="postgresql+psycopg://kaohe:kaohe@127.0.0.1:5432/postgres"
  _say "PostgreSQL $version is running; tests use $KAOHE_TEST_PG_URL"
}

_find_chromium() {
  if [ -n "${KAOHE_TEST_CHROMIUM:-}" ]; then return 0; fi
  command -v chromium >/dev/null || _apt_install chromium || { _say "chromium could not be installed"; return 1; }
  export KAOHE_TEST_CHROMIUM="$(command -v chromium)"
}

_start_postgres || _say "WARNING: no PostgreSQL: the PostgreSQL tests will fail"
_find_chromium || _say "WARNING: no chromium: the browser tests will fail"
true
