#!/usr/bin/env bash
# mutants.sh: plants known bugs (scripts/mutants.txt) one at a time in a
# scratch copy of the tree and checks that the test command named for each
# one fails. The working tree is never modified.
#
#   scripts/mutants.sh              every mutant
#   scripts/mutants.sh NAME...      only these
#   MUTANTS_DIR=DIR                 where the scratch copy lives (default
#                                   /tmp/twostage-mutants; a fixed path lets the
#                                   Go build cache serve later runs)
#   MUTANTS_LOG=DIR                 keep each test run's output there
#   MUTANTS_TIMEOUT=SECONDS         the limit on one test command (300)
#
# First every distinct test command must pass on the unmutated copy (a
# mutant "caught" by a test that fails anyway proves nothing). Then, for
# each mutant: check that its find string occurs exactly once in its file,
# replace it, run the command, expect a non-zero exit, restore the file.
# It prints one line per mutant and ends with "mutants: N of M caught"; the
# exit status is 0 only when every mutant was caught.
#
# The list's format (scripts/mutants.txt): blocks separated by blank lines,
# each with the keys
#   name:    a short name
#   why:     what bug it plants (one line)
#   file:    path relative to the repository root
#   find:    an exact string, found exactly once in file (\n for a new
#            line, \t for a tab)
#   replace: what replaces it (\n, \t as in find)
#   test:    the command, run from the scratch copy's root, that must fail
# Lines starting with # are comments.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
list=${MUTANTS_LIST:-$root/scripts/mutants.txt}
scratch=${MUTANTS_DIR:-/tmp/twostage-mutants}
logdir=${MUTANTS_LOG:-}
limit=${MUTANTS_TIMEOUT:-300} # seconds a test command may run; a mutant that hangs it is caught
export TWOSTAGE_REQUIRE_DEPS=1 OMP_WAIT_POLICY=PASSIVE

# Parse the list into parallel arrays.
names=() whys=() files=() finds=() repls=() tests=()
flush() {
	if [[ -n ${m_name:-} ]]; then
		for k in file find test; do
			v="m_$k"
			if [[ -z ${!v:-} ]]; then
				echo "mutants: $m_name has no $k" >&2
				exit 2
			fi
		done
		names+=("$m_name") whys+=("${m_why:-}") files+=("$m_file") finds+=("$m_find")
		repls+=("${m_replace-}") tests+=("$m_test")
	fi
	m_name= m_why= m_file= m_find= m_replace= m_test=
}
m_name=
while IFS= read -r line || [[ -n $line ]]; do
	[[ $line == \#* ]] && continue
	if [[ -z ${line//[[:space:]]/} ]]; then
		flush
		continue
	fi
	key=${line%%:*}
	val=${line#*:}
	val=${val# }
	case $key in
	name | why | file | find | replace | test) printf -v "m_$key" '%s' "$val" ;;
	*)
		echo "mutants: bad line in $list: $line" >&2
		exit 2
		;;
	esac
done <"$list"
flush

# Select the mutants asked for.
sel=()
if (($# == 0)); then
	sel=("${!names[@]}")
else
	for want in "$@"; do
		found=
		for i in "${!names[@]}"; do
			if [[ ${names[$i]} == "$want" ]]; then
				sel+=("$i")
				found=1
			fi
		done
		[[ -n $found ]] || {
			echo "mutants: no mutant named $want" >&2
			exit 2
		}
	done
fi

# The scratch copy: tracked and untracked-but-not-ignored files, and the
# shared assets through a link.
echo "mutants: copying the tree to $scratch"
rm -rf "$scratch"
mkdir -p "$scratch"
(cd "$root" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$scratch"
if [[ -e $root/.deps ]]; then
	ln -s "$(readlink -f "$root/.deps")" "$scratch/.deps"
fi
[[ -n $logdir ]] && mkdir -p "$logdir"

run() { # run CMD LOG: the command's exit status, output to LOG
	(cd "$scratch" && timeout -k 10 "$limit" bash -c "$1") >"$2" 2>&1
}

# The baseline: every test command passes on the unmutated tree.
declare -A seen=()
for i in "${sel[@]}"; do
	cmd=${tests[$i]}
	[[ -n ${seen[$cmd]:-} ]] && continue
	seen[$cmd]=1
	log=$(mktemp)
	start=$SECONDS
	if ! run "$cmd" "$log"; then
		echo "mutants: the unmutated tree fails: $cmd" >&2
		tail -40 "$log" >&2
		exit 1
	fi
	echo "mutants: baseline passes ($((SECONDS - start))s): $cmd"
	rm -f "$log"
done

# Apply a mutant: exactly one occurrence of find, replaced literally.
apply() { # apply FILE FIND REPLACE
	FIND=$2 REPL=$3 perl -0777 -i -pe '
		BEGIN { $f = $ENV{FIND}; $r = $ENV{REPL}; for ($f, $r) { s/\\n/\n/g; s/\\t/\t/g } }
		$n = () = /\Q$f\E/g;
		die "found $n times\n" if $n != 1;
		s/\Q$f\E/$r/;
	' "$1"
}

caught=0
total=0
missed=()
for i in "${sel[@]}"; do
	name=${names[$i]} file=$scratch/${files[$i]}
	total=$((total + 1))
	cp "$file" "$file.orig"
	if ! err=$(apply "$file" "${finds[$i]}" "${repls[$i]}" 2>&1); then
		mv "$file.orig" "$file"
		echo "mutant $name: cannot apply to ${files[$i]} (find string ${err%$'\n'}); update scripts/mutants.txt" >&2
		missed+=("$name (not applied)")
		continue
	fi
	log=${logdir:+$logdir/$name.log}
	log=${log:-$(mktemp)}
	start=$SECONDS
	rc=0
	run "${tests[$i]}" "$log" || rc=$?
	if ((rc == 0)); then
		echo "mutant $name: MISSED ($((SECONDS - start))s): ${whys[$i]}"
		missed+=("$name")
	elif grep -qE '\[build failed\]|\[setup failed\]|^# twostage' "$log"; then
		# A mutant that does not compile proves nothing about the tests.
		echo "mutant $name: does not compile; fix scripts/mutants.txt" >&2
		grep -m5 -E '\.go:[0-9]+:[0-9]+: ' "$log" >&2 || true
		missed+=("$name (does not compile)")
	else
		how=caught
		((rc == 124 || rc == 137)) && how="caught (the test command timed out)"
		echo "mutant $name: $how ($((SECONDS - start))s)"
		caught=$((caught + 1))
	fi
	[[ -n $logdir ]] || rm -f "$log"
	mv "$file.orig" "$file"
done

echo "mutants: $caught of $total caught"
if ((${#missed[@]})); then
	printf 'mutants: missed: %s\n' "${missed[@]}"
	exit 1
fi
