"""List and run the benchmarks in this folder.

    python -m benchmarks                 # run every benchmark with its defaults
    python -m benchmarks --list          # name and one-line summary of each
    python -m benchmarks NAME [ARGS...]  # run one, passing ARGS through

Each benchmark is a module ``benchmarks/<name>.py`` that runs as
``python -m benchmarks.<name>``. Every one runs in its own process, because each
sets up Django (settings, a throwaway database) for itself.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Upper bound on one benchmark run, so that `make benchmark` always ends.
RUN_TIMEOUT_SECONDS = 15 * 60


def available() -> dict[str, str]:
    """Benchmark names mapped to the first line of their docstring (read, not imported)."""
    found: dict[str, str] = {}
    for module in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if module.name.startswith("_") or module.ispkg:
            continue
        path = HERE / f"{module.name}.py"
        summary = ""
        try:
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        except (OSError, SyntaxError, ValueError):
            docstring = None
        if docstring:
            summary = docstring.strip().splitlines()[0]
        found[module.name] = summary
    return found


def run(name: str, args: list[str]) -> int:
    """Run one benchmark in a child process; returns its exit status."""
    print(f"== benchmarks.{name} {' '.join(args)}".rstrip(), flush=True)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *args],
            cwd=HERE.parent,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"benchmarks.{name} did not finish in {RUN_TIMEOUT_SECONDS} s: stopped.")
        return 1
    return completed.returncode


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    benchmarks = available()
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if argv and argv[0] == "--list":
        width = max((len(name) for name in benchmarks), default=0)
        for name, summary in benchmarks.items():
            print(f"{name.ljust(width)}  {summary}")
        return 0
    if argv:
        name, args = argv[0], argv[1:]
        if name not in benchmarks:
            known = ", ".join(benchmarks) or "none"
            print(f"No benchmark named {name!r}. Available: {known}.", file=sys.stderr)
            return 2
        return run(name, args)
    failed = [name for name in benchmarks if run(name, []) != 0]
    if failed:
        print(f"Failed: {', '.join(failed)}.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
