#!/usr/bin/env bash
# Install NarraScore into the active Python environment.
#   scripts/install.sh          the embedded default path, with the best SoundFont apt can give (where allowed)
#   scripts/install.sh --dev    also every extra, the test tools and the browser the web page's test drives
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

# The best General MIDI SoundFont the machine can have: Debian's full MuseScore General, through apt
# where this user may install packages (root, or sudo without a password); otherwise the renderer
# falls back to FluidR3 GM or TimGM6mb (README, "Better sound").
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if $sudo true 2>/dev/null; then
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musescore-general-soundfont >/dev/null 2>&1 \
      || echo "note: could not install musescore-general-soundfont; rendering uses the best SoundFont it finds" >&2
    if [ "$dev" = 1 ]; then
      # the web UI's browser tests drive Debian's chromium through Playwright (never `playwright install`)
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
        || echo "note: could not install chromium; the web UI's browser test will be skipped" >&2
    fi
  fi
fi

python -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then
  python -m pip install -q -e ".[neural,ui,batch,listen,timeline,dev]"
else
  python -m pip install -q .
fi
