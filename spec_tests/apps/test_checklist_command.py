"""The `minigrad checklist` command itself: its data covers M1.01-M4.12 in order, and its report marks proved, failed, missing and skipped IDs."""

import io
import re
from pathlib import Path
from types import SimpleNamespace

from apps.checklist.items import BY_ID, ITEMS, MODULES
from apps.checklist.cli import SpecCollector, find_spec_dir, report


def test_checklist_data_lists_every_id_in_course_order():
    counts = {1: 20, 2: 14, 3: 8, 4: 12}
    expected = [f"M{m}.{k:02d}" for m, n in counts.items() for k in range(1, n + 1)]
    assert [item.id for item in ITEMS] == expected
    assert set(BY_ID) == set(expected) and set(MODULES) == {1, 2, 3, 4}
    assert {item.id for item in ITEMS if item.erratum} == {"M1.01", "M1.18", "M4.10"}
    assert all(item.title and item.formula and item.example for item in ITEMS)


def _collector(outcomes, messages=None):
    c = SpecCollector()
    for nodeid, (spec_id, outcome) in outcomes.items():
        c.tests.setdefault(spec_id, []).append(nodeid)
        c.outcome[nodeid] = outcome
    c.message.update(messages or {})
    return c


def test_report_marks_failed_missing_and_skipped_and_exits_non_zero():
    items = [BY_ID["M1.06"], BY_ID["M1.07"], BY_ID["M1.08"], BY_ID["M1.05"]]
    c = _collector(
        {"t.py::test_a": ("M1.06", "passed"), "t.py::test_b": ("M1.07", "failed"), "t.py::test_c": ("M1.05", "skipped")},
        {"t.py::test_b": "n=5, p=1, f=3: n + 2p - f + 1 = 5, got 4"},
    )
    out = io.StringIO()
    code = report(c, items, MODULES, SimpleNamespace(module=None, verbose=False), out=out)
    text = out.getvalue()
    assert code == 1
    assert re.search(r"proved\s+M1\.06", text) and re.search(r"failed\s+M1\.07", text)
    assert re.search(r"missing\s+M1\.08 .*no test claims this ID", text), "an ID without a test is reported missing"
    assert re.search(r"skipped\s+M1\.05", text)
    assert "n + 2p - f + 1 = 5, got 4" in text, "a failure prints the assertion message"
    assert text.rstrip().endswith("1/4 proved (1 failed, 1 missing, 1 skipped)")


def test_report_all_proved_exits_zero_and_verbose_prints_the_formula():
    c = _collector({"t.py::test_a": ("M4.09", "passed")})
    out = io.StringIO()
    code = report(c, [BY_ID["M4.09"]], MODULES, SimpleNamespace(module=4, verbose=True), out=out)
    assert code == 0
    assert "formula: J_content(C, G) = 1/2 ||a[l](C) - a[l](G)||^2" in out.getvalue()
    assert out.getvalue().rstrip().endswith("1/1 proved")


def test_spec_tests_ship_inside_the_package():
    import apps.checklist

    assert find_spec_dir() == (Path(apps.checklist.__file__).resolve().parent / "course")
    assert (find_spec_dir() / "test_m1_foundations.py").is_file()


def test_every_checklist_id_is_claimed_by_a_course_test():
    """Static guard: each ID has at least one `@spec("...")` test in the shipped course tests (the checklist also reports "missing")."""
    here = find_spec_dir()
    claimed = set()
    for path in here.glob("test_*.py"):
        claimed |= set(re.findall(r'@spec\("(M\d\.\d\d)"\)', path.read_text(encoding="utf-8")))
    missing = [item.id for item in ITEMS if item.id not in claimed]
    assert not missing, f"checklist IDs without a course test: {missing}"


def test_each_module_is_printed_as_soon_as_its_tests_have_finished():
    from apps.checklist.cli import ModulePrinter

    items = [BY_ID["M1.06"], BY_ID["M2.07"]]
    out = io.StringIO()
    printer = ModulePrinter(items, MODULES, SimpleNamespace(module=None, verbose=False), out)
    c = SpecCollector(on_test_done=printer.test_done)
    printer.collector = c
    c.tests = {"M1.06": ["a.py::test_one"], "M2.07": ["b.py::test_two"]}
    c.outcome["a.py::test_one"] = "passed"
    c.on_test_done("a.py::test_one")
    assert "Module 1" in out.getvalue() and "Module 2" not in out.getvalue()   # module 2 still running
    c.outcome["b.py::test_two"] = "failed"
    c.on_test_done("b.py::test_two")
    assert "Module 2" in out.getvalue()
    assert printer.finish() == 1 and out.getvalue().rstrip().endswith("1/2 proved (1 failed)")
