#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (TestDashboard_Browser), which
# skips without it. Does nothing when a Chromium or Chrome is on PATH. Non-interactive, bounded
# in time; fails (for the caller to ignore) without root or apt-get.
set -euo pipefail
for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" >/dev/null 2>&1; then
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "install-chromium: need root (or sudo without a password) to install chromium" >&2
    exit 1
  fi
  sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
timeout 300 "${sudo[@]}" apt-get update -qq
timeout 600 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
