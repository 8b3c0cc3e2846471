#!/bin/sh
# The layers include one way only (README.md, "For developers"; doc/*.md).
# Fails listing every #include in a product folder that names a header of a
# folder it may not use, or another folder's private header (internal.h,
# impl.h). tests/ and bench/ may include anything.
# Usage: layers.sh SOURCE_DIR
set -eu
src=$1

# What each folder may include besides itself. sandbox: means the module's
# interface only (sandbox.h, module.h): the server opens the sandbox as a
# module and never links its code.
rules='
util
jsonschema util
schemas    util
upstream   util
store      util
tools      util jsonschema upstream
sandbox    util tools
server     util jsonschema schemas upstream tools store sandbox:sandbox.h,module.h
'

# Includes that break the rules, each on its way out (none today; a line
# nothing needs any more is reported). Format: FILE HEADER
allowlist='
'

allowed_for() {
    printf '%s\n' "$rules" | awk -v f="$1" '$1 == f { $1 = ""; print }'
}

hits=0
used=
for folder in $(printf '%s\n' "$rules" | awk 'NF { print $1 }'); do
    allowed=$(allowed_for "$folder")
    for f in "$src/$folder"/*.c "$src/$folder"/*.h; do
        [ -e "$f" ] || continue
        rel=${f#"$src"/}
        # Header names hold no spaces, so word splitting is safe here.
        # shellcheck disable=SC2013
        for header in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
            case $header in
            */*) to=${header%%/*} ;;
            *) continue ;; # beside the file: its own folder
            esac
            [ "$to" = "$folder" ] && continue
            [ -d "$src/$to" ] || continue # not one of ours (tests/ helpers)
            base=${header##*/}
            why=
            case $base in
            internal.h | impl.h) why="private to $to/" ;;
            esac
            if [ -z "$why" ]; then
                why="$folder/ may not include $to/"
                for a in $allowed; do
                    case $a in
                    "$to") why= ;;
                    "$to":*)
                        case ",${a#*:}," in
                        *",$base,"*) why= ;;
                        esac
                        ;;
                    esac
                done
            fi
            [ -z "$why" ] && continue
            if printf '%s\n' "$allowlist" | grep -qx "$rel $header"; then
                used="$used
$rel $header"
                continue
            fi
            echo "$rel: #include \"$header\": $why" >&2
            hits=$((hits + 1))
        done
    done
done

# An allowlist line nothing needs any more should be deleted.
printf '%s\n' "$allowlist" | while read -r line; do
    [ -n "$line" ] || continue
    if ! printf '%s\n' "$used" | grep -qx "$line"; then
        echo "note: allowlist entry no longer needed, delete it: $line" >&2
    fi
done

if [ "$hits" -gt 0 ]; then
    echo "$hits include(s) against the layers; see README.md (For developers)" >&2
    exit 1
fi
