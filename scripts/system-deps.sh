#!/bin/sh
# What the deployment suite (tests/deployment) needs from Debian's packages, installed when missing:
# - postgresql: its server runs Airflow's metadata DB on a private cluster, as SQLite cannot take a
#   multi-process deployment;
# - chromium and chromium-driver, for the browser test: the test never lets Selenium download a
#   browser or a driver.
# As root with apt-get, the missing packages are installed; otherwise this stops, before any test
# runs, with the one command to run.
set -eu

missing=""
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    missing="$missing chromium chromium-driver"
fi
[ -z "$missing" ] && exit 0

command="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "The deployment tests need Debian's packages:$missing. Install them, then run make again:" >&2
    echo "    sudo $command" >&2
    exit 1
fi
echo "Installing Debian's packages for the deployment tests:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
