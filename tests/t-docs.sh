#!/usr/bin/env bash
# t-docs.sh - the manual pages are clean man(7) and agree with --help.
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT"
P=$PULLTOP

for page in man/*.[1-9]; do
	out=$(groff -man -ww -z "$page" 2>&1)
	[ -z "$out" ] && t_pass "groff -man -ww -z $page reports nothing" || t_fail "groff -man -ww -z $page reports nothing" "$out"
done

help_opts=$($P --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
# options in the man page: the .TP items of OPTIONS, escaped as \-\-name
man_opts=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' man/pulltop.1 | sed 's/\\-/-/g' |
	grep -oE -- '--[a-z][a-z-]+' | sort -u)
missing=$(comm -23 <(echo "$help_opts") <(echo "$man_opts") | tr '\n' ' ')
[ -z "$missing" ] && t_pass "every option in --help is in pulltop.1" || t_fail "every option in --help is in pulltop.1" "$missing"
extra=$(comm -13 <(echo "$help_opts") <(echo "$man_opts") | tr '\n' ' ')
[ -z "$extra" ] && t_pass "every option in pulltop.1 is in --help" || t_fail "every option in pulltop.1 is in --help" "$extra"
readme=$(sed 's/`//g' README.md | grep -oE -- '--[a-z][a-z-]+' | sort -u)
missing=$(comm -23 <(echo "$help_opts") <(echo "$readme") | tr '\n' ' ')
[ -z "$missing" ] && t_pass "every option in --help is in the README" || t_fail "every option in --help is in the README" "$missing"
$P --version | grep -qE '^pulltop [0-9]+\.[0-9]+\.[0-9]+$' && t_pass "--version prints the version" || t_fail "--version prints the version" "$($P --version)"
