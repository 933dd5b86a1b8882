# Sourced by scripts/test-services.sh and scripts/bench-tools.sh: say things, and install a Debian package
# (as root, or with sudo when it needs no password), running apt-get update once per shell.

_say() { printf '[%s] %s\n' "${_SAY_AS:-test-services}" "$*" >&2; }

_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

_apt_install() {
  if [ -z "${_APT_UPDATED:-}" ]; then _as_root apt-get update -qq >/dev/null 2>&1 || return 1; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq "$@" >/dev/null 2>&1
}
