#!/bin/bash
# The source layout's rules (doc/architecture.md), checked on every `make check`:
#   1. a part includes only its own headers and those of the parts below it;
#   2. the include graph has no circle;
#   3. every header compiles on its own (with $CC and $HEADER_CFLAGS, when set);
#   4. every .c file but a program's main has a header of its own, so no
#      header declares another file's functions.
# Prints one line per breach, then "N passed, N failed" over the four rules.
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1

# what each part may include besides itself
declare -A below=(
    [common]=""
    [host]="common"
    [image]="common"
    [launch]="host common"
    [registry]="image common"
    [cli]="launch host image registry common"
    [slurm]="launch host common"
)
bad=0 bad_parts=0 bad_circles=0 bad_alone=0 bad_own=0
breach() { echo "FAIL layout: $*"; bad=$((bad + 1)); }

part_of() {
    case $1 in
        src/*/*) local p=${1#src/}; echo "${p%%/*}" ;;
        batch/slurm/*) echo slurm ;;
        *) echo "" ;;
    esac
}

files=$(ls src/*/*.[ch] batch/slurm/*.[ch])
for f in $files; do
    part=$(part_of "$f")
    [ -n "${below[$part]+x}" ] || { breach "$f: src/$part is not a known part"; bad_parts=$((bad_parts + 1)); continue; }
    while read -r inc; do
        case $inc in
            autoconfig.h) continue ;;
            */*) ip=${inc%%/*} ;;
            *) ip=$part
               [ -e "$(dirname "$f")/$inc" ] || { breach "$f: \"$inc\" is not in its folder (name the part: \"part/$inc\")"; bad_parts=$((bad_parts + 1)); }
               continue ;;
        esac
        [ "$ip" = "$part" ] && continue
        case " ${below[$part]} " in
            *" $ip "*) ;;
            *) breach "$f includes \"$inc\": $part may use only ${below[$part]:-nothing else}"
               bad_parts=$((bad_parts + 1)) ;;
        esac
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done

# circles, by a depth-first walk over the headers
declare -A state=()
visit() { # $1: a path relative to $top
    local h=$1 inc next
    state[$h]=1
    while read -r inc; do
        case $inc in
            autoconfig.h) continue ;;
            */*) next=src/$inc ;;
            *) next=$(dirname "$h")/$inc ;;
        esac
        [ -e "$next" ] || continue
        if [ "${state[$next]:-0}" = 1 ]; then
            breach "include circle through $h and $next"
            bad_circles=$((bad_circles + 1))
        elif [ "${state[$next]:-0}" = 0 ]; then
            visit "$next"
        fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$h")
    state[$h]=2
}
for f in $files; do
    [ "${state[$f]:-0}" = 0 ] && visit "$f"
done

# each header on its own
if [ -n "${CC:-}" ]; then
    for h in src/*/*.h batch/slurm/*.h; do
        printf '#include "autoconfig.h"\n#include "%s"\n' "$h" |
            $CC ${HEADER_CFLAGS:-} -I"$top" -I"${top_builddir:-$top}" -I"$top/src" \
                -D_GNU_SOURCE -fsyntax-only -x c - 2>"${TMPDIR:-/tmp}/layout.$$" ||
            { breach "$h does not compile on its own: $(grep -m1 error "${TMPDIR:-/tmp}/layout.$$")"
              bad_alone=$((bad_alone + 1)); }
    done
    rm -f "${TMPDIR:-/tmp}/layout.$$"
fi

# a header of its own (the programs: their main is all they export)
for f in $files; do
    case $f in
        *.h | src/cli/hpcrun.c | src/cli/hpcimg.c | batch/slurm/prolog.c | batch/slurm/epilog.c | \
            batch/slurm/spank_hpcrun.c) continue ;;
    esac
    [ -e "${f%.c}.h" ] || { breach "$f has no header of its own (${f%.c}.h)"; bad_own=$((bad_own + 1)); }
done

echo "layout: $(echo "$files" | wc -l) files, $bad breaches"
failed=0
for n in "$bad_parts" "$bad_circles" "$bad_alone" "$bad_own"; do [ "$n" = 0 ] || failed=$((failed + 1)); done
echo "$((4 - failed)) passed, $failed failed"
[ "$failed" = 0 ]
