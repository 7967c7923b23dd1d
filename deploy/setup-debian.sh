#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing (needs root or sudo).
set -euo pipefail
need=()
command -v java >/dev/null || need+=(default-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v python3.11 >/dev/null || command -v python3 >/dev/null || need+=(python3 python3-venv)
# Headless Chromium runs the player's browser test (Playwright drives /usr/bin/chromium; no downloads).
[ -x /usr/bin/chromium ] || need+=(chromium)
# `docker-compose config` validates docker-compose.yml in tests/deploy (no Docker engine needed).
command -v docker-compose >/dev/null || need+=(docker-compose)
# A real Prometheus scrapes a running stack in tests/e2e/test_prometheus.py.
command -v prometheus >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
