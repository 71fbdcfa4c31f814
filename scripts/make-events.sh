#!/usr/bin/env bash
# Makes events/NAME.json from the readable source events/src/NAME.log with `troubleshooter
# encode`. A source's leading `# key: value` lines set the log group, owner, message type and
# Kinesis wrapping; other `# ` lines are notes; each remaining line is one log event, written
# with `\t` and `\n` escapes as CloudWatch shows them.
#   scripts/make-events.sh          regenerate every event
#   scripts/make-events.sh --check  fail if an event is out of date with its source
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
[ "${1:-}" = "--check" ] && check=true

cargo build --quiet --bin troubleshooter
bin=target/debug/troubleshooter
stale=0
for source in events/src/*.log; do
  name=$(basename "$source" .log)
  header() { sed -n "s/^# $1: \{0,1\}//p" "$source" | head -n 1; }
  args=(encode --unescape --timestamp 2024-03-04T17:22:38Z
        --log-group "$(header log-group)"
        --log-stream "2024/03/04/[\$LATEST]94fa867e5374431291a7fc14e2f56ae7"
        --owner "$(header owner || true)")
  [ -n "$(header owner)" ] || args[${#args[@]}-1]=123456789012
  [ -n "$(header message-type)" ] && args+=(--message-type "$(header message-type)")
  [ "$(header kinesis)" = "true" ] && args+=(--kinesis)
  generated=$(grep -v '^# ' "$source" | grep -v '^#$' | "$bin" "${args[@]}")
  target="events/$name.json"
  if $check; then
    if [ "$generated" != "$(cat "$target" 2>/dev/null)" ]; then
      echo "events/$name.json is out of date with $source: run make events" >&2
      stale=1
    fi
  else
    printf '%s\n' "$generated" > "$target"
  fi
done
exit $stale
