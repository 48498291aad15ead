#!/usr/bin/env bash
# Set up mie in a virtual environment at .venv in this checkout.
#   scripts/setup.sh         the engine with every operator library
#   scripts/setup.sh --dev   the same plus the test and lint tools (the `dev` extra: pytest, ruff, mypy,
#                            schemathesis for the API fuzz test, playwright, ...)
# Installs the Debian packages it needs (python3-venv, ffmpeg, tesseract, apertium, espeak-ng; with --dev also
# chromium and firefox-esr, the browsers of the web UI tests, and Node.js for the Firefox driver) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="[all]"
[ "${1:-}" = "--dev" ] && extras="[all,dev]"

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# Media tools the operators call: ffmpeg/ffprobe (decode, encode), tesseract (OCR fast path), apertium
# (translation), espeak-ng (speech synthesis: the Polly operators, and speech for the tests).
for pkg in ffmpeg tesseract-ocr tesseract-ocr-eng apertium apertium-eng-spa espeak-ng; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The browser tests (tests/e2e/test_web_ui.py) drive Debian's chromium through Playwright; no browser is downloaded.
# tests/e2e/test_web_firefox.py drives Debian's firefox-esr over WebDriver BiDi with puppeteer-core, from Node.js.
# (firefox-esr plays the H.264/AAC proxies with libavcodec, only recommended by it: ffmpeg above depends on it.)
if [ "${1:-}" = "--dev" ]; then
  for pkg in chromium firefox-esr; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"mie needs Python 3.11 or newer; this is {sys.version.split()[0]}")
PY

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e ".${extras}"
# ByteTrack for personTracking. `trackers` declares the GUI opencv-python, which would replace the headless wheel
# the vision extra installs: take it without its declared dependencies (its real ones are in the vision extra).
.venv/bin/python -m pip install --quiet --no-deps "trackers==2.6.1"
if [ "${1:-}" = "--dev" ]; then
  # puppeteer-core for the Firefox UI test, as locked in tests/e2e/firefox/package-lock.json (it downloads no browser).
  npm ci --prefix tests/e2e/firefox --no-audit --no-fund --loglevel=error
fi
echo "mie is installed in .venv: run .venv/bin/mie serve"
