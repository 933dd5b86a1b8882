# Sourced by the bench targets: wrk (benchmarks/callbacks.py's load tool) and valgrind (benchmarks/turn_instructions.py's
# counter), installed if missing.
_SAY_AS=bench-tools
. scripts/apt.sh  # (sourced from the repository root, as make and .ci/run do)
command -v wrk >/dev/null || _apt_install wrk || _say "WARNING: wrk could not be installed (apt-get install wrk)"
command -v valgrind >/dev/null || _apt_install valgrind || _say "WARNING: valgrind could not be installed (apt-get install valgrind)"
true
