"""The course tests' own pytest setup, so they run the same from a checkout or an installed minigrad."""


def pytest_configure(config):
    # Registered here as well as in pyproject.toml: an installed package has no pyproject beside it.
    config.addinivalue_line("markers", "spec(id): the course checklist ID (M1.01 ... M4.12) that this test proves")
    config.addinivalue_line("markers", "experiment: a seeded training experiment (skipped by `minigrad checklist --fast`)")
