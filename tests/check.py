"""The Python tests' twin of check.h: check() counts a check and prints the one that fails,
check_summary() prints the counts and ends the script with their status, and require() imports a
module the test needs or ends the script as one failed check: a missing dependency fails a test,
it never skips it.

A test in tests/DIR imports it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
"""
import importlib
import sys

_counts = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print("check failed:", what)


def check_summary():
    print("%d passed, %d failed" % (_counts["passed"], _counts["failed"]))
    sys.exit(1 if _counts["failed"] else 0)


def require(module, debian_package):
    try:
        return importlib.import_module(module)
    except ImportError:
        print("%s is not importable by %s (Debian: %s)" % (module, sys.executable, debian_package))
        print("0 passed, 1 failed")
        sys.exit(1)
