#!/bin/sh
# Prints the path of a Python 3.12+ interpreter, or explains why none was found.
# Order: an interpreter on PATH that actually runs, then any pyenv version that
# is installed but not selected (a pyenv shim fails until a version is selected).
ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }

for name in python3.12 python3.13 python3.14 python3; do
    if command -v "$name" >/dev/null 2>&1 && ok "$name"; then
        command -v "$name"; exit 0
    fi
done
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    for dir in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
        if [ -x "$dir/bin/python" ] && ok "$dir/bin/python"; then
            echo "$dir/bin/python"; exit 0
        fi
    done
fi
echo "error: Python 3.12 or newer is required but none was found on PATH or in pyenv." >&2
echo "       Install one (for example 'pyenv install 3.12') and run make again." >&2
exit 1
