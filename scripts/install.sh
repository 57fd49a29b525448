#!/usr/bin/env bash
# Install NarraScore into the active Python environment.
#   scripts/install.sh          the embedded default path, with the best SoundFont where apt allows
#   scripts/install.sh --dev    every extra and the test tools too (and chromium for the browser test)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

# The best SoundFont the machine can have (Debian's MuseScore General, full quality, and its Lite
# version), and for --dev the chromium that the web page's browser test drives: through apt, where
# this user may run it without a password; otherwise rendering falls back to the next font found.
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if $sudo true 2>/dev/null; then
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musescore-general-soundfont musescore-general-soundfont-small >/dev/null 2>&1 \
      || echo "note: could not install Debian's MuseScore General SoundFont; rendering falls back to TimGM6mb" >&2
    if [ "$dev" = 1 ]; then
      # the web UI's browser tests drive Debian's chromium through Playwright (never `playwright install`)
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
        || echo "note: could not install chromium; the web UI's browser test will be skipped" >&2
    fi
  else
    echo "note: without root or passwordless sudo, the better SoundFont was not installed: \`sudo apt install musescore-general-soundfont\`" >&2
  fi
fi

python -m pip install -q --upgrade pip
# tinysoundfont declares pyaudio (live playback only; wheels for Windows only, elsewhere it needs PortAudio's
# headers); the renderer needs none of it. On Windows the package's own dependency installs it as declared.
python -m pip install -q --no-deps "tinysoundfont==0.3.7"
if [ "$dev" = 1 ]; then
  python -m pip install -q -e ".[neural,ui,batch,listen,timeline,dev]"
else
  python -m pip install -q .
fi
