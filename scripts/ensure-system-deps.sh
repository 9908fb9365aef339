#!/bin/sh
# Make sure the system programs the tests and the demo need are present:
#   - redis-server >= 6.2 (Debian's `redis-server` package), required;
#   - chromium (Debian's `chromium` package), for the one real-browser test; optional.
# Installs them with apt-get when missing and we are root; otherwise explains what to do.
set -eu

redis_bin="${HASESSION_REDIS_SERVER:-redis-server}"

redis_ok() {
    command -v "$redis_bin" >/dev/null 2>&1 || return 1
    version=$("$redis_bin" --version | sed -n 's/.*v=\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
    set -- $version
    [ "${1:-0}" -gt 6 ] || { [ "${1:-0}" -eq 6 ] && [ "${2:-0}" -ge 2 ]; }
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

if ! redis_ok; then
    if can_install; then
        echo "installing Debian's redis-server package ..."
        apt_install redis-server
        # The Debian package may start a system Redis on 6379; the tests never use it.
    else
        echo "error: redis-server >= 6.2 is required. Install it with 'sudo apt-get install redis-server'" >&2
        echo "       or point HASESSION_REDIS_SERVER at a redis-server binary." >&2
        exit 1
    fi
fi
echo "redis-server: $("$redis_bin" --version | cut -d' ' -f3)"

if ! command -v chromium >/dev/null 2>&1; then
    if can_install; then
        echo "installing Debian's chromium package (for the real-browser test) ..."
        apt_install chromium || echo "warning: chromium could not be installed; the browser test will be skipped" >&2
    else
        echo "note: chromium not found and not root; the real-browser test will be skipped" >&2
    fi
fi
