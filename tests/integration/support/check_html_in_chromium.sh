#!/usr/bin/env bash
# Checks that an HTML report is self-contained and really renders in headless Chromium: no
# script errors, every chart draws something, and a full-page screenshot.
#
# usage: check_html_in_chromium.sh REPORT.html SCREENSHOT.png [MIN_CHARTS]
# Exit 0 with one summary line on success; exit 1 with a message naming the file otherwise.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT.html SCREENSHOT.png [MIN_CHARTS]" >&2
  exit 2
fi
REPORT=$1
SCREENSHOT=$2
MIN_CHARTS=${3:-1}

fail() { echo "chromium check: $REPORT: $*" >&2; exit 1; }

command -v chromium >/dev/null 2>&1 || fail "chromium not found: tools/setup.sh installs it"
command -v python3 >/dev/null 2>&1 || fail "python3 not found (needed to parse the results)"
[ -f "$REPORT" ] || fail "no such file"
[[ $MIN_CHARTS =~ ^[0-9]+$ ]] || fail "MIN_CHARTS must be a whole number, got '$MIN_CHARTS'"

SCRATCH_PREFIX=cf-chromium-check
source "$(dirname "${BASH_SOURCE[0]}")/scratch_dir.bash"

REPORT_ABS=$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")
mkdir -p "$(dirname "$SCREENSHOT")"
SCREENSHOT_ABS=$(cd "$(dirname "$SCREENSHOT")" && pwd)/$(basename "$SCREENSHOT")
rm -f "$SCREENSHOT_ABS"

# ---- static check: the file must not need anything but itself ----------------------------------
python3 - "$REPORT_ABS" >"$WORK/static.txt" <<'PY' || fail "not self-contained: $(cat "$WORK/static.txt")"
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
# The SVG namespace is an identifier, not a fetch: the only URL allowed.
scrubbed = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
# What would fetch something: a reference in a markup attribute, or in CSS (<style> blocks and
# style= attributes). A URL written as text (a path or an id in a table) fetches nothing.
css = " ".join(re.findall(r"<style\b[^>]*>(.*?)</style>", scrubbed, re.IGNORECASE | re.DOTALL) +
               re.findall(r"\sstyle\s*=\s*\"([^\"]*)\"", scrubbed, re.IGNORECASE))
rules = [
    (r"<[^>]*\s(href|xlink:href|action|poster|data)\s*=\s*[\"']?\s*(https?:)?//", "a reference to another host"),
    (r"<script\b", "a <script> element"),
    (r"<link\b", "a <link> element"),
    (r"<[^>]*\ssrc(set)?\s*=", "a src= attribute"),
]
css_rules = [
    (r"@import\b", "a CSS @import"),
    (r"url\(\s*['\"]?(?!#|data:)", "a CSS url() of another file"),
]
problems = []
for pattern, what in rules:
    match = re.search(pattern, scrubbed, re.IGNORECASE)
    if match:
        line = scrubbed.count("\n", 0, match.start()) + 1
        snippet = scrubbed[match.start():match.start() + 60].split("\n")[0]
        problems.append(f"{what} at line {line}: {snippet!r}")
for pattern, what in css_rules:
    match = re.search(pattern, css, re.IGNORECASE)
    if match:
        problems.append(f"{what} in the CSS: {css[match.start():match.start() + 60]!r}")
if problems:
    print("; ".join(problems))
    sys.exit(1)
PY

# Flags for every run. A fresh profile each time; --no-sandbox because CI runs as root;
# --disable-dev-shm-usage because containers often have a tiny /dev/shm (the Debian launcher's
# own test for that is unreliable).
chromium_run() {
  local profile=$1; shift
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --disable-dev-shm-usage --no-first-run --user-data-dir="$profile" \
    --allow-file-access-from-files --enable-logging=stderr --v=0 "$@"
}

# Console lines that report an error. The ", source: file:///..." tail is cut first so a file
# name containing "error" does not count.
console_errors() {
  python3 - "$1" <<'PY'
import re, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if "CONSOLE" not in line:
        continue
    message = re.sub(r", source: .*$", "", line.rstrip("\n"))
    if re.search(r"error|uncaught", message, re.IGNORECASE):
        print(message.strip())
PY
}

file_url() { python3 -c 'import pathlib, sys; print(pathlib.Path(sys.argv[1]).as_uri())' "$1"; }

# ---- dynamic check: a copy with a checker script injected first thing in <head> ----------------
CHECK_COPY="$WORK/checked.html"
python3 - "$REPORT_ABS" "$CHECK_COPY" <<'PY' || fail "no <head> element to inject the checker into"
import re, sys
source, target = sys.argv[1], sys.argv[2]
text = open(source, encoding="utf-8", errors="replace").read()
checker = r"""<script>
(function () {
  var errors = [];
  window.onerror = function (message, source, line) {
    errors.push('uncaught: ' + message + ' (line ' + line + ')');
  };
  // Resource load failures do not bubble; only a capturing listener on window sees them.
  window.addEventListener('error', function (event) {
    var target = event.target;
    if (target && target !== window && target.tagName) {
      errors.push('failed to load <' + target.tagName.toLowerCase() + '> ' +
                  (target.currentSrc || target.src || target.href || ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (event) {
    errors.push('unhandled promise rejection: ' + event.reason);
  });
  var originalConsoleError = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return originalConsoleError.apply(console, arguments);
  };
  function report() {
    var charts = document.querySelectorAll('svg.chart');
    var empty = [], noData = [];
    charts.forEach(function (svg, index) {
      var drawn = 0;
      svg.querySelectorAll('path, rect, circle, line, polyline').forEach(function (element) {
        var box;
        try { box = element.getBBox(); } catch (e) { return; }
        if (box.width > 0 || box.height > 0) drawn++;
      });
      var title = svg.querySelector('title');
      var name = title && title.textContent ? title.textContent : 'chart #' + (index + 1);
      if (drawn > 0) return;
      // A chart that says "no data" on purpose is reported, not failed.
      (svg.querySelector('text.no-data') ? noData : empty).push(name);
    });
    var summary = {
      charts: charts.length, empty: empty, no_data: noData, errors: errors,
      height: document.documentElement.scrollHeight
    };
    var pre = document.createElement('pre');
    pre.id = 'cf-check';
    pre.textContent = JSON.stringify(summary);
    document.body.appendChild(pre);
  }
  // Report a moment after load, so errors from the page's own load handlers (registered after
  // this one) are in; --virtual-time-budget lets the timer run before the DOM is dumped.
  window.addEventListener('load', function () { setTimeout(report, 100); });
})();
</script>"""
match = re.search(r"<head(\s[^>]*)?>", text, re.IGNORECASE)
if not match:
    sys.exit(1)
open(target, "w", encoding="utf-8").write(text[:match.end()] + checker + text[match.end():])
PY

# --virtual-time-budget makes --dump-dom wait until the page is loaded and idle, so the load
# handler above has run when the DOM is dumped.
chromium_run "$WORK/profile-check" --window-size=1280,1000 --virtual-time-budget=5000 \
  --dump-dom "$(file_url "$CHECK_COPY")" >"$WORK/dom.html" 2>"$WORK/check.stderr" ||
  { tail -n 20 "$WORK/check.stderr" >&2; fail "chromium --dump-dom failed"; }

python3 - "$WORK/dom.html" "$MIN_CHARTS" >"$WORK/summary.txt" 2>"$WORK/verdict.txt" <<'PY' ||
import html, json, re, sys
dom = open(sys.argv[1], encoding="utf-8", errors="replace").read()
min_charts = int(sys.argv[2])
match = re.search(r'<pre id="cf-check">(.*?)</pre>', dom, re.DOTALL)
if not match:
    sys.stderr.write("the checker never reported (the page did not finish loading)")
    sys.exit(1)
result = json.loads(html.unescape(match.group(1)))
problems = []
if result["errors"]:
    problems.append("script errors: " + " | ".join(result["errors"]))
if result["empty"]:
    problems.append("charts with nothing drawn: " + ", ".join(repr(t) for t in result["empty"]))
if result["charts"] < min_charts:
    problems.append(f"{result['charts']} svg.chart elements, expected at least {min_charts}")
if problems:
    sys.stderr.write("; ".join(problems))
    sys.exit(1)
print(result["charts"], result["height"], json.dumps(result["no_data"]))
PY
  fail "$(cat "$WORK/verdict.txt")"
read -r CHARTS PAGE_HEIGHT NO_DATA <"$WORK/summary.txt"

ERRORS=$(console_errors "$WORK/check.stderr")
[ -z "$ERRORS" ] || fail "console errors: $ERRORS"

# ---- full-page screenshot of the original file -------------------------------------------------
HEIGHT=$((PAGE_HEIGHT < 200 ? 200 : (PAGE_HEIGHT > 16000 ? 16000 : PAGE_HEIGHT)))
chromium_run "$WORK/profile-shot" --window-size="1280,$HEIGHT" --virtual-time-budget=5000 \
  --screenshot="$SCREENSHOT_ABS" "$(file_url "$REPORT_ABS")" >/dev/null 2>"$WORK/shot.stderr" ||
  { tail -n 20 "$WORK/shot.stderr" >&2; fail "chromium --screenshot failed"; }
ERRORS=$(console_errors "$WORK/shot.stderr")
[ -z "$ERRORS" ] || fail "console errors while taking the screenshot: $ERRORS"
[ -f "$SCREENSHOT_ABS" ] || fail "chromium wrote no screenshot to $SCREENSHOT"
BYTES=$(stat -c %s "$SCREENSHOT_ABS")
[ "$BYTES" -gt 10240 ] || fail "screenshot $SCREENSHOT is only $BYTES bytes (blank page?)"
SIZE=$(python3 - "$SCREENSHOT_ABS" <<'PY'
import struct, sys
header = open(sys.argv[1], "rb").read(24)
if header[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(1)
width, height = struct.unpack(">II", header[16:24])
print(f"{width}x{height}")
PY
) || fail "screenshot $SCREENSHOT is not a PNG"

NOTE=""
[ "$NO_DATA" = "[]" ] || NOTE=" (saying \"no data\": $NO_DATA)"
echo "chromium: $REPORT: $CHARTS charts drawn$NOTE, no console errors, screenshot $SCREENSHOT ($SIZE)"
