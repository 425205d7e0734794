#!/usr/bin/env bash
# Runs every ```sh block of README.md, docs/*.md, CONTRIBUTING.md and examples/*/README.md as a user would type it from
# the repo root, so the documented commands stay true (ctest: docs.commands).
#
#   bash scripts/check_doc_commands.sh --bin BUILD_DIR [--root DIR] [FILE.md ...]
#   bash scripts/check_doc_commands.sh --bin BUILD_DIR --self-test
#
# Each block runs in its own `bash` with `set -euo pipefail`, from a temporary directory that holds
# a symlink to every top-level entry of the repo root (so `configs/phase1.json` and
# `scripts/torch_candidate.py` resolve, and files the commands write land in the temporary
# directory), with `build` pointing at BUILD_DIR and BUILD_DIR first on PATH. The directory is fresh
# for each file and shared by its blocks, run in order, as a reader following the page would type
# them: a later block may use what an earlier one wrote. A block must exit 0
# unless the line just before its fence declares another code:
#   <!-- exit: 1 -->            the block must exit with exactly this code
#   <!-- no-run: REASON -->     the block is not run; it is listed as skipped with REASON
# A ```sh block holds commands only: a line starting with `$ ` is a transcript and fails the check
# (put a command with its output in a ```text block). Blocks in other fences are never run.
# Relative Markdown links must name files that exist.
# Exit: 0 every block behaved as declared, 1 one did not (or a marker is malformed), 2 bad usage.
set -euo pipefail

usage() { echo "usage: $0 --bin BUILD_DIR [--root DIR] [--timeout S] [--self-test] [FILE.md ...]" >&2; exit 2; }

bin="" root="" self_test=0 block_timeout=60 files=()
while (($#)); do
  case "$1" in
    --bin) bin="${2:?}"; shift 2 ;;
    --root) root="${2:?}"; shift 2 ;;
    --timeout) block_timeout="${2:?}"; shift 2 ;;
    --self-test) self_test=1; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) files+=("$1"); shift ;;
  esac
done
[[ -n "$bin" && -x "$bin/attn-diff" ]] || { echo "$0: error: --bin must name the folder holding attn-diff" >&2; exit 2; }
bin="$(cd "$bin" && pwd)"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$script_dir/.." && pwd)"

# --self-test: the checker on a fixture with good, skipped and broken blocks must exit 1 and report
# exactly the statuses in the fixture's expected.txt, so a checker that quietly runs nothing fails.
if ((self_test)); then
  fixture="$repo/tests/data/doc_commands_bad"
  set +e
  out="$(bash "$script_dir/check_doc_commands.sh" --bin "$bin" --root "$fixture" 2>&1)"
  rc=$?
  set -e
  got="$(printf '%s\n' "$out" | grep -E '^(ok|FAIL|SKIP|blocks:) ' | sed -E 's/ \([0-9.]+ s\)$//')"
  if [[ $rc -ne 1 ]] || ! diff <(printf '%s\n' "$got") "$fixture/expected.txt"; then
    printf '%s\n' "$out"
    echo "self-test: FAILED: the checker exited $rc on the broken fixture (must be 1) or its statuses differ from $fixture/expected.txt (diff above)" >&2
    exit 1
  fi
  echo "self-test: ok: the checker exits 1 on the broken fixture and reports every block as expected"
  exit 0
fi

root="${root:-$repo}"
root="$(cd "$root" && pwd)"
if ((${#files[@]} == 0)); then
  cd "$root"
  for f in README.md docs/*.md CONTRIBUTING.md examples/*/README.md; do [[ -f "$f" ]] && files+=("$f"); done
  cd - >/dev/null
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/attn-diff-doccheck-XXXXXX")"
trap 'rm -rf "$work"' EXIT

passed=0 failed=0 skipped=0 markers=0 n=0
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

for f in "${files[@]}"; do
  path="$f"; [[ "$path" = /* ]] || path="$root/$f"
  [[ -f "$path" ]] || { echo "FAIL $f: no such file"; markers=$((markers + 1)); continue; }
  # Split the file into blocks: one line "BLOCK LINE LANG EXIT NORUN" then the body in its own file.
  # The marker must be the last non-blank line before the fence.
  rm -rf "$work/blocks"; mkdir -p "$work/blocks"
  awk -v dir="$work/blocks" -v file="$f" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    BEGIN { in_block = 0; marker = ""; marker_line = 0; count = 0 }
    in_block {
      if ($0 ~ /^[ \t]*```[ \t]*$/) { in_block = 0; close(body); next }
      if (lang == "sh") print > body
      next
    }
    /^[ \t]*```/ {
      lang = $0; sub(/^[ \t]*```/, "", lang); lang = trim(lang); in_block = 1; count++
      body = sprintf("%s/%04d", dir, count)
      printf "" > body
      exit_code = 0; norun = ""
      if (marker != "") {
        if (lang != "sh") { printf "MARKER %d %s\n", marker_line, "is not just before a ```sh block" }
        else if (marker ~ /^<!-- exit: [0-9]+ -->$/) { exit_code = marker; gsub(/[^0-9]/, "", exit_code) }
        else if (marker ~ /^<!-- no-run: .*[^ ].* -->$/) { norun = marker; sub(/^<!-- no-run: /, "", norun); sub(/ -->$/, "", norun) }
      }
      printf "BLOCK %d %04d %s %d %s\n", NR, count, (lang == "" ? "-" : lang), exit_code, norun
      marker = ""
      next
    }
    /^[ \t]*$/ { next }
    /^[ \t]*<!-- (exit|no-run):/ {
      sub(/^[ \t]+/, "")
      if ($0 !~ /^<!-- exit: [0-9]+ -->$/ && $0 !~ /^<!-- no-run: .*[^ ].* -->$/)
        printf "MARKER %d %s\n", NR, "is malformed (write <!-- exit: N --> or <!-- no-run: REASON -->)"
      else { marker = $0; marker_line = NR }
      next
    }
    { if (marker != "") printf "MARKER %d %s\n", marker_line, "is not just before a ```sh block"; marker = "" }
    END {
      if (in_block) printf "MARKER %d %s\n", NR, "a code block is not closed"
      if (marker != "") printf "MARKER %d %s\n", marker_line, "is not just before a ```sh block"
    }
  ' "$path" > "$work/index"

  # Relative links outside code must name files that exist (the part before any #anchor).
  while IFS= read -r target; do
    target="${target%%#*}"
    [[ -z "$target" || "$target" == *://* || "$target" == mailto:* ]] && continue
    if [[ ! -e "$(dirname "$path")/$target" ]]; then
      echo "FAIL $f: the link ($target) names no file"
      markers=$((markers + 1))
    fi
  done < <(awk '/^[ \t]*```/ { fence = !fence; next } !fence' "$path" | sed -E 's/`[^`]*`//g' |
             grep -oE '\]\([^) ]+\)' | sed -E 's/^\]\(//; s/\)$//')

  # The user's view of the repo root, fresh for each file: its blocks run in order in it, as a
  # reader following the page would type them (a later step may read what an earlier one wrote).
  view="$work/view"
  rm -rf "$view"; mkdir -p "$view/.tmp"
  for entry in "$root"/* "$root"/.[!.]*; do
    [[ -e "$entry" || -L "$entry" ]] || continue
    name="$(basename "$entry")"
    [[ "$name" == .git || "$name" == build ]] && continue
    ln -s "$entry" "$view/$name"
  done
  ln -s "$bin" "$view/build"

  while read -r kind line id lang code reason; do
    if [[ "$kind" == MARKER ]]; then
      echo "FAIL $f:$line: the marker $id $lang $code $reason"
      markers=$((markers + 1))
      continue
    fi
    [[ "$lang" == sh ]] || continue
    n=$((n + 1))
    body="$work/blocks/$id"
    if [[ -n "$reason" ]]; then
      echo "SKIP $f:$line: $reason"
      skipped=$((skipped + 1))
      continue
    fi
    if [[ ! -s "$body" ]] || ! grep -q '[^[:space:]]' "$body"; then
      fail "$f:$line: empty \`\`\`sh block"
      continue
    fi
    if grep -qE '^\$ ' "$body"; then
      fail "$f:$line: a line starts with '\$ ': that is a transcript; put commands with their output in a \`\`\`text block"
      continue
    fi
    start=$(date +%s.%N)
    set +e
    (cd "$view" && PATH="$bin:$PATH" TMPDIR="$view/.tmp" NO_COLOR=1 \
       timeout --kill-after=5 "$block_timeout" bash -c "set -euo pipefail
$(cat "$body")" < /dev/null > "$work/out" 2>&1)
    rc=$?
    set -e
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [[ $rc -eq $code ]]; then
      echo "ok $f:$line: exit $rc ($secs s)"
      passed=$((passed + 1))
    else
      if [[ $rc -eq 124 ]]; then why="timed out after $block_timeout s"; else why="exit $rc, expected $code"; fi
      fail "$f:$line: $why ($secs s)"
      echo "  the block:"; sed 's/^/  | /' "$body"
      echo "  its output (last 20 lines):"; tail -n 20 "$work/out" | sed 's/^/  > /'
    fi
  done < "$work/index"
  rm -rf "$view"
done

echo "blocks: $n: $passed passed, $failed failed, $skipped skipped; $markers bad markers, links or files"
((failed == 0 && markers == 0))
