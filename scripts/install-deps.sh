#!/usr/bin/env bash
# Install the Debian packages named in one or more list files (default: deps/debian-core.txt),
# but only those that are missing.
#
# Why this shape: `make up` and `make test` call it every time, so the common case (everything
# already installed) must cost one dpkg-query per package and no apt-get at all; apt-get update
# alone takes seconds and needs the network. List format: one package per line, `#` comments.
#
# Runs apt-get directly as root, through sudo when that is available, and otherwise prints the
# command an administrator should run and fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$#" -eq 0 ]; then
    set -- "$repo/deps/debian-core.txt"
fi

# Package names from the list files: comments and blank lines dropped, first word of a line.
read_lists() {
    local file
    for file in "$@"; do
        if [ ! -r "$file" ]; then
            echo "install-deps: cannot read package list $file" >&2
            exit 1
        fi
        sed -e 's/#.*//' "$file" | awk 'NF { print $1 }'
    done
}

is_installed() {
    # Multi-arch packages print one status per architecture; any installed one will do.
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: this is not a Debian-based system; install the equivalents of:" >&2
    read_lists "$@" | sort -u | sed 's/^/  /' >&2
    exit 1
fi

missing=()
while read -r package; do
    is_installed "$package" || missing+=("$package")
done < <(read_lists "$@" | sort -u)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all Debian packages are installed"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps: not root and no sudo; ask an administrator to run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
