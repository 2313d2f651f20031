#!/usr/bin/env bash
# The committed vectors must be exactly what scapy (gen.py) builds: regenerates them into
# a temporary folder and compares.
set -u
dir=$1
py=/usr/bin/python3
if ! "$py" -c 'import scapy' 2>/dev/null; then
	echo "FAIL: $py cannot import scapy (scripts/setup-debian.sh installs python3-scapy)"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" "$dir/gen.py" "$tmp/cases" >/dev/null || { echo "FAIL: gen.py failed"; exit 1; }
if diff -r "$dir/cases" "$tmp/cases" >"$tmp/diff"; then
	echo "vectors: $(ls "$tmp/cases" | wc -l) cases, identical to what gen.py builds"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "FAIL: tests/vectors/cases differs from gen.py's output; regenerate with"
echo "  /usr/bin/python3 tests/vectors/gen.py tests/vectors/cases"
head -20 "$tmp/diff"
echo "0 passed, 1 failed"
exit 1
