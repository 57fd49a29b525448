#!/usr/bin/env bash
# Install NarraScore into the active Python environment.
#   scripts/install.sh          the embedded default path
#   scripts/install.sh --dev    every extra and the test tools, plus the better system SoundFont where apt allows
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ "$dev" = 1 ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if $sudo true 2>/dev/null; then
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musescore-general-soundfont-small >/dev/null 2>&1 \
      || echo "note: could not install musescore-general-soundfont-small; rendering falls back to TimGM6mb" >&2
    # the web UI's browser tests drive Debian's chromium through Playwright (never `playwright install`)
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
      || echo "note: could not install chromium; the web UI's browser test will be skipped" >&2
  fi
fi

python -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then
  python -m pip install -q -e ".[neural,ui,batch,listen,timeline,dev]"
else
  python -m pip install -q .
fi
