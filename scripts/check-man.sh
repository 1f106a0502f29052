#!/usr/bin/env bash
# check-man.sh BIN MAN - the generated man page documents every command, and every option of
# every registered nettest as its --help lists it (both come from the same tables; this
# catches a printer that drops one). Prints "man: N passed, M failed".
set -u
bin=$1 man=$2
pass=0 fail=0
# the commands of `censorscope --help` (the nettests from the registry, then the tools)
cmds=$("$bin" --help | sed -n 's/^  \([a-z_][a-z_]*\)  .*/\1/p')
for c in $cmds; do
  if grep -q "$c" "$man"; then pass=$((pass + 1)); else echo "man: command $c missing"; fail=$((fail + 1)); fi
done
for c in $cmds; do
  # a nettest is a command whose --help lists the shared --input-file option
  "$bin" "$c" --help 2>/dev/null | grep -q -- '--input-file' || continue
  for o in $("$bin" "$c" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+'); do
    esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
    if grep -q -- "$esc" "$man"; then pass=$((pass + 1))
    else echo "man: $c option $o missing from $man"; fail=$((fail + 1)); fi
  done
done
echo "man: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 10 ]
