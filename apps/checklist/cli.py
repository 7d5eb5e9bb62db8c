"""`minigrad checklist`: run the spec suite and print the course, one line per checklist ID, proved or not.

The spec tests live in the checkout's ``spec_tests/`` directory; each course test
carries ``@pytest.mark.spec("M1.08")``. This command runs pytest in-process with a
small plugin (``SpecCollector``) that records, for every spec ID, the tests behind it
and their outcome, then prints the checklist in course order:

    ✓ M1.08  Strided convolution output size   [test_stride_output_size]
    ✗ M3.03  Intersection over union           [test_iou_formula]
          IoU((0,0,2,2), (1,1,3,3)) = 1/7, got 0.125

An ID no test claims is reported as "missing" (never silently left out). The run
exits non-zero when anything failed or is missing. ``--fast`` skips the seeded
training experiments (tests marked ``experiment``).
"""

import contextlib
import io
import sys
from pathlib import Path

PROVED, FAILED, MISSING, SKIPPED = "proved", "failed", "missing", "skipped"
MARKS = {PROVED: "✓", FAILED: "✗", MISSING: "?", SKIPPED: "-"}
ASCII_MARKS = {PROVED: "+", FAILED: "x", MISSING: "?", SKIPPED: "-"}


def register(subparsers):
    parser = subparsers.add_parser(
        "checklist",
        help="prove every formula of the course on the engine and print the checklist",
        description="Run the spec suite (spec_tests/) and print the course checklist in order: "
        "one line per ID (M1.01 ... M4.12) with its mark, title and tests.",
    )
    parser.add_argument("--module", type=int, choices=[1, 2, 3, 4], help="only this course module")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print each formula and a worked example")
    parser.add_argument("--fast", action="store_true", help="skip the seeded training experiments")
    parser.add_argument("--spec-dir", type=Path, default=None, help="the spec_tests directory (default: found from the checkout)")
    parser.add_argument("--pytest-output", action="store_true", help="show pytest's own output as well")
    parser.set_defaults(func=run)


def find_spec_dir(explicit=None):
    """The ``spec_tests`` directory: ``explicit``, else next to the ``apps`` package (a checkout), else under the cwd."""
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        import apps

        candidates = [Path(apps.__file__).resolve().parent.parent / "spec_tests", Path.cwd() / "spec_tests"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    raise FileNotFoundError(
        "minigrad checklist needs the spec suite, the spec_tests/ directory of a minigrad checkout; "
        f"looked in: {', '.join(str(p) for p in candidates)}. Install from a checkout "
        "(git clone ... && pip install -e '.[test]') and run it there, or pass --spec-dir."
    )


class SpecCollector:
    """A pytest plugin: which tests prove which spec ID, and how each test ended."""

    def __init__(self, module=None, fast=False):
        self.module = module
        self.fast = fast
        self.tests = {}  # spec ID -> [nodeid]
        self.outcome = {}  # nodeid -> passed | failed | skipped
        self.message = {}  # nodeid -> the failure's first lines
        self.collect_errors = []  # (path, message)

    def pytest_collection_modifyitems(self, session, config, items):
        import pytest

        kept, dropped = [], []
        for item in items:
            ids = [m.args[0] for m in item.iter_markers("spec") if m.args]
            if self.module is not None:
                ids = [i for i in ids if i.startswith(f"M{self.module}.")]
            if not ids:
                dropped.append(item)
                continue
            for spec_id in ids:
                self.tests.setdefault(spec_id, []).append(item.nodeid)
            if self.fast and item.get_closest_marker("experiment"):
                item.add_marker(pytest.mark.skip(reason="an experiment: skipped by --fast"))
            kept.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append((report.nodeid, _first_lines(report.longreprtext, 12)))

    def pytest_runtest_logreport(self, report):
        previous = self.outcome.get(report.nodeid)
        if report.failed:
            self.outcome[report.nodeid] = "failed"
            self.message.setdefault(report.nodeid, _failure_message(report))
        elif report.skipped and previous is None:
            self.outcome[report.nodeid] = "skipped"
        elif report.when == "call" and report.passed and previous is None:
            self.outcome[report.nodeid] = "passed"

    def status(self, spec_id):
        """(status, [nodeid]) for one ID: failed if any test failed, skipped if all were skipped."""
        nodeids = self.tests.get(spec_id, [])
        if not nodeids:
            return MISSING, nodeids
        outcomes = [self.outcome.get(n, "failed") for n in nodeids]
        if "failed" in outcomes:
            return FAILED, nodeids
        if all(o == "skipped" for o in outcomes):
            return SKIPPED, nodeids
        return PROVED, nodeids


def _first_lines(text, n):
    lines = [line for line in str(text).splitlines() if line.strip()]
    return "\n".join(lines[:n])


def _failure_message(report):
    """The assertion message of a failed test (the course's notation, as the test wrote it)."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and crash.message:
        message = crash.message
        if message.startswith("AssertionError: "):
            message = message[len("AssertionError: "):]
        return _first_lines(message, 6)
    return _first_lines(getattr(report, "longreprtext", "failed"), 6)


def _test_name(nodeid):
    return nodeid.split("::")[-1]


def _test_names(nodeids):
    """Test function names, once each (parametrized cases collapse into one name)."""
    names = []
    for nodeid in nodeids:
        name = _test_name(nodeid).split("[")[0]
        if name not in names:
            names.append(name)
    return names


def _title(item):
    return item.title + (" (erratum)" if item.erratum else "")


def _marks():
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower()
    return MARKS if "utf" in encoding else ASCII_MARKS


def run(args):
    try:
        import hypothesis  # noqa: F401
        import pytest
    except ImportError as error:
        print(
            f"minigrad checklist needs pytest and hypothesis ({error.name} is not installed): "
            "pip install -e '.[test]'",
            file=sys.stderr,
        )
        return 2
    from apps.checklist.items import ITEMS, MODULES

    try:
        spec_dir = find_spec_dir(args.spec_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    collector = SpecCollector(module=args.module, fast=args.fast)
    pytest_args = [str(spec_dir), "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                   "--rootdir", str(spec_dir.parent)]
    print(f"minigrad checklist: running the spec suite in {spec_dir}" + (" (--fast: no experiments)" if args.fast else ""),
          flush=True)
    captured = io.StringIO()
    if args.pytest_output:
        code = pytest.main(pytest_args, plugins=[collector])
    else:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            code = pytest.main(pytest_args, plugins=[collector])
    if code not in (0, 1, 5) and not collector.outcome:
        print(captured.getvalue(), file=sys.stderr)
        print(f"error: pytest could not run the spec suite (exit code {int(code)})", file=sys.stderr)
        return 2
    return report(collector, ITEMS, MODULES, args)


def report(collector, items, modules, args, out=None):
    """Print the checklist in course order; return the exit code (1 when anything failed or is missing)."""
    out = out or sys.stdout
    marks = _marks()
    chosen = [item for item in items if args.module is None or item.module == args.module]
    counts = {PROVED: 0, FAILED: 0, MISSING: 0, SKIPPED: 0}
    width = max(len(_title(item)) for item in chosen)
    module = None
    for item in chosen:
        if item.module != module:
            module = item.module
            print(f"\nModule {module}: {modules[module]}", file=out)
        status, nodeids = collector.status(item.id)
        counts[status] += 1
        tests = ", ".join(_test_names(nodeids)) if nodeids else "no test claims this ID"
        print(f"  {marks[status]} {status:<7}  {item.id}  {_title(item).ljust(width)}  [{tests}]", file=out)
        if status == FAILED:
            for nodeid in nodeids:
                if collector.outcome.get(nodeid, "failed") == "failed":
                    message = collector.message.get(nodeid, "did not run (see the collection errors below)")
                    print(f"        {_test_name(nodeid)}: " + message.replace("\n", "\n          "), file=out)
        if args.verbose:
            print(f"        formula: {item.formula}", file=out)
            print(f"        example: {item.example}", file=out)
            if item.erratum:
                print(f"        erratum: {item.erratum}", file=out)
    unknown = sorted(set(collector.tests) - {item.id for item in items})
    if unknown:
        print(f"\nnote: tests claim IDs that are not in the checklist: {', '.join(unknown)}", file=out)
    if collector.collect_errors:
        print("\nThese test files could not be collected:", file=out)
        for nodeid, message in collector.collect_errors:
            print(f"  {nodeid}: " + message.replace("\n", "\n    "), file=out)
    total = len(chosen)
    summary = f"\n{counts[PROVED]}/{total} proved"
    extra = [f"{counts[k]} {k}" for k in (FAILED, MISSING, SKIPPED) if counts[k]]
    if extra:
        summary += " (" + ", ".join(extra) + ")"
    print(summary, file=out)
    return 1 if counts[FAILED] or counts[MISSING] or collector.collect_errors else 0
