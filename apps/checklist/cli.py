"""`minigrad checklist`: run the spec suite and print the course, one line per checklist ID, proved or not.

The course's spec tests ship inside this package (``apps/checklist/course/``), so the
command works wherever minigrad is installed; each carries ``@pytest.mark.spec("M1.08")``.
This command runs pytest in-process with a small plugin (``SpecCollector``) that records,
for every spec ID, the tests behind it and their outcome, and prints the checklist in
course order, each module as soon as its last test has finished:

    ✓ M1.08  Strided convolution output size   [test_stride_output_size]
    ✗ M3.03  Intersection over union           [test_iou_formula]
          IoU((0,0,2,2), (1,1,3,3)) = 1/7, got 0.125

An ID no test claims is reported as "missing" (never silently left out). The run
exits non-zero when anything failed or is missing. ``--fast`` skips the seeded
training experiments (tests marked ``experiment``); their IDs show as skipped.
"""

import contextlib
import io
import sys
from pathlib import Path

from apps.cli_args import CLIError, existing_dir

PROVED, FAILED, MISSING, SKIPPED = "proved", "failed", "missing", "skipped"
MARKS = {PROVED: "✓", FAILED: "✗", MISSING: "?", SKIPPED: "-"}
ASCII_MARKS = {PROVED: "+", FAILED: "x", MISSING: "?", SKIPPED: "-"}


def register(subparsers):
    parser = subparsers.add_parser(
        "checklist",
        help="prove every formula of the course on the engine and print the checklist",
        description="Run the course's spec tests (shipped in apps/checklist/course/) and print the checklist in "
        "order: one line per ID (M1.01 ... M4.12) with its mark, title and tests, each module as it finishes.",
    )
    parser.add_argument("--module", type=int, choices=[1, 2, 3, 4], help="only this course module")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print each formula and a worked example")
    parser.add_argument("--fast", action="store_true",
                        help="skip the three seeded training experiments (tests marked experiment): "
                        "M1.05, M2.06 and M4.08 show as skipped")
    parser.add_argument("--spec-dir", type=existing_dir, default=None,
                        help="a folder of spec tests to run instead (default: the course tests shipped with minigrad)")
    parser.add_argument("--pytest-output", action="store_true", help="show pytest's own output as well")
    parser.set_defaults(func=run)


def find_spec_dir(explicit=None):
    """The folder of course spec tests: ``explicit``, else the one shipped inside this package."""
    path = Path(explicit) if explicit is not None else Path(__file__).resolve().parent / "course"
    if not path.is_dir():
        raise CLIError(f"the spec tests are not at {path}: reinstall minigrad, or pass --spec-dir")
    return path.resolve()


class SpecCollector:
    """A pytest plugin: which tests prove which spec ID, and how each test ended."""

    def __init__(self, module=None, fast=False, on_test_done=None):
        self.module = module
        self.fast = fast
        self.on_test_done = on_test_done  # called with the nodeid after each test's teardown
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
        if report.when == "teardown" and self.on_test_done is not None:
            self.on_test_done(report.nodeid)

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
        raise CLIError(f"the checklist needs pytest and hypothesis ({error.name} is not installed): "
                       "pip install pytest hypothesis") from None
    from apps.checklist.items import ITEMS, MODULES

    spec_dir = find_spec_dir(args.spec_dir)
    out = sys.stdout
    printer = ModulePrinter(ITEMS, MODULES, args, out)
    collector = SpecCollector(module=args.module, fast=args.fast, on_test_done=printer.test_done)
    printer.collector = collector
    pytest_args = [str(spec_dir), "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                   "--rootdir", str(spec_dir.parent)]
    print(f"minigrad checklist: running the course's spec tests in {spec_dir}"
          + (" (--fast: no experiments)" if args.fast else ""), flush=True)
    captured = io.StringIO()
    if args.pytest_output:
        code = pytest.main(pytest_args, plugins=[collector])
    else:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            code = pytest.main(pytest_args, plugins=[collector])
    if code not in (0, 1, 5) and not collector.outcome:
        print(captured.getvalue(), file=sys.stderr)
        raise CLIError(f"pytest could not run the spec tests in {spec_dir} (exit code {int(code)})")
    return printer.finish()


class ModulePrinter:
    """Prints each course module's block as soon as every test behind its IDs has finished.

    Modules appear in course order: a module waits for the ones before it. ``finish``
    prints whatever is left (IDs with no test, tests that never ran) and the summary.
    """

    def __init__(self, items, modules, args, out, collector=None):
        self.items = [item for item in items if args.module is None or item.module == args.module]
        self.all_items, self.modules, self.args, self.out = items, modules, args, out
        self.collector = collector
        self.done, self.printed = set(), set()
        self.counts = {PROVED: 0, FAILED: 0, MISSING: 0, SKIPPED: 0}
        self.width = max(len(_title(item)) for item in self.items) if self.items else 0

    def _order(self):
        return list(dict.fromkeys(item.module for item in self.items))

    def test_done(self, nodeid):
        self.done.add(nodeid)
        self.flush()

    def flush(self, final=False):
        for module in self._order():
            if module in self.printed:
                continue
            chosen = [item for item in self.items if item.module == module]
            nodeids = {n for item in chosen for n in self.collector.tests.get(item.id, [])}
            if not final and not nodeids <= self.done:
                return
            self._print_module(module, chosen)
            self.printed.add(module)
            self.out.flush()

    def _print_module(self, module, chosen):
        out, marks, collector = self.out, _marks(), self.collector
        print(f"\nModule {module}: {self.modules[module]}", file=out)
        for item in chosen:
            status, nodeids = collector.status(item.id)
            self.counts[status] += 1
            tests = ", ".join(_test_names(nodeids)) if nodeids else "no test claims this ID"
            print(f"  {marks[status]} {status:<7}  {item.id}  {_title(item).ljust(self.width)}  [{tests}]", file=out)
            if status == FAILED:
                for nodeid in nodeids:
                    if collector.outcome.get(nodeid, "failed") == "failed":
                        message = collector.message.get(nodeid, "did not run (see the collection errors below)")
                        print(f"        {_test_name(nodeid)}: " + message.replace("\n", "\n          "), file=out)
            if self.args.verbose:
                print(f"        formula: {item.formula}", file=out)
                print(f"        example: {item.example}", file=out)
                if item.erratum:
                    print(f"        erratum: {item.erratum}", file=out)

    def finish(self):
        """Print what is left and the summary; return the exit code (1 when anything failed or is missing)."""
        self.flush(final=True)
        out, collector = self.out, self.collector
        unknown = sorted(set(collector.tests) - {item.id for item in self.all_items})
        if unknown:
            print(f"\nnote: tests claim IDs that are not in the checklist: {', '.join(unknown)}", file=out)
        if collector.collect_errors:
            print("\nThese test files could not be collected:", file=out)
            for nodeid, message in collector.collect_errors:
                print(f"  {nodeid}: " + message.replace("\n", "\n    "), file=out)
        counts = self.counts
        summary = f"\n{counts[PROVED]}/{len(self.items)} proved"
        extra = [f"{counts[k]} {k}" for k in (FAILED, MISSING, SKIPPED) if counts[k]]
        if extra:
            summary += " (" + ", ".join(extra) + ")"
        print(summary, file=out)
        return 1 if counts[FAILED] or counts[MISSING] or collector.collect_errors else 0


def report(collector, items, modules, args, out=None):
    """Print the whole checklist in course order at once; return the exit code."""
    return ModulePrinter(items, modules, args, out or sys.stdout, collector).finish()
