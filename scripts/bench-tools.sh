# Sourced by the bench targets: wrk (the load tool of benchmarks/callbacks.py and votes), installed if missing.
. scripts/apt.sh  # (sourced from the repository root, as make and .ci/run do)
command -v wrk >/dev/null || _apt_install wrk || _say "WARNING: wrk could not be installed (apt-get install wrk)"
true
