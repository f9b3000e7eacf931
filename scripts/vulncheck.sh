#!/usr/bin/env bash
# make vulncheck: govulncheck (pinned in scripts/deps.sh) over the module.
# Exit 0: no vulnerability reaches the code. Exit 3: govulncheck found some
# (its report is printed). When the vulnerability database cannot be reached
# (no network, GOVULNDB unreachable) it prints "NOT CHECKED: ..." and exits 2,
# never a silent pass. GOVULNDB=file:///path/to/db uses a local copy.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh govulncheck || { echo "NOT CHECKED: govulncheck could not be installed"; exit 2; }
out=$(.deps/bin/govulncheck ${GOVULNDB:+-db "$GOVULNDB"} ./... 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 3 ] && grep -qE 'fetching vulnerabilities|vuln\.go\.dev|no such host|dial tcp|connection refused|i/o timeout|TLS handshake' <<<"$out"; then
  echo "NOT CHECKED: the vulnerability database could not be reached:"
  sed 's/^/  /' <<<"$out" | head -5
  exit 2
fi
printf '%s\n' "$out"
exit $rc
