#!/usr/bin/env bash
# Headless Chromium for the explorer's browser tests (tests/test_explorer_browser.py) and the
# page-open benchmark: Debian's `chromium` package, installed with apt-get when it is missing
# (as root; idempotent). Playwright for Python (requirements/lock.txt) drives this executable;
# Playwright's own browser download is never used. Firefox is not needed by the tests.
set -euo pipefail
if command -v chromium >/dev/null; then
    echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-chromium: chromium is missing and this is not root; run as root or install Debian's chromium package" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: installed $(chromium --version)"
