#!/usr/bin/env bash
# setup.sh - installs everything censorscope needs on Debian 12 (run as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential pkg-config clang libclang-rt-14-dev libssl-dev zlib1g-dev libcmocka-dev
      libsqlite3-dev libidn2-dev libpcre2-dev openssl ca-certificates curl python3 time bc
      chromium sqlite3 libpcap-dev libpq-dev libmicrohttpd-dev postgresql-15)
if [ -f testbed/deps.txt ]; then
  mapfile -t tb < <(grep -v '^\s*#' testbed/deps.txt | tr -s ' \t' '\n' | grep -v '^$')
  pkgs+=("${tb[@]}")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# dnsdist is the testbed's DoH server (testbed/lib/tamper.sh `public-doh`), started inside the
# testbed's namespaces only: never the machine's own service (the package enables and, where
# it may, starts one). With systemd running: disable --now; without it: remove the boot links
# and stop what the init script may have started.
if dpkg-query -W -f='${Status}' dnsdist 2>/dev/null | grep -q 'install ok installed'; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now dnsdist >/dev/null 2>&1 || true
  else
    systemctl disable dnsdist >/dev/null 2>&1 || update-rc.d dnsdist disable >/dev/null 2>&1 || true
    invoke-rc.d dnsdist stop >/dev/null 2>&1 || true
  fi
fi
