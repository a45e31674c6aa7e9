#!/usr/bin/env bash
# Installs the real MQTT peers that interop tests and `make compare` use: Mosquitto and the
# mosquitto_pub/sub clients, from Debian's packages. Does nothing when they are present.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: need root and apt-get to install mosquitto" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
timeout 300 apt-get update -qq
timeout 300 apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
# The package may start a system broker on :1883, which `make run` needs: stop it.
if command -v systemctl >/dev/null 2>&1; then systemctl stop mosquitto 2>/dev/null || true; fi
pkill -x mosquitto 2>/dev/null || true
