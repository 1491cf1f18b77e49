"""The version matrix (tests/matrix.py) reads pytest's closing line into its table."""

import pytest

from tests.matrix import SERVERS, Missing, extra_requirements, summary, wheel_bindir


@pytest.mark.parametrize(
    "output, cell",
    [
        ("...\n480 passed, 3 skipped in 150.20s (0:02:30)\n", "480 passed, 0 failed, 3 skipped"),
        ("F.\n2 failed, 478 passed in 199.42s\n", "478 passed, 2 failed, 0 skipped"),
        ("E\n1 error in 1.66s\n", "0 passed, 0 failed, 0 skipped, 1 errors"),
        (
            "1 failed, 2 passed, 1 skipped, 2 errors in 3.00s",
            "2 passed, 1 failed, 1 skipped, 2 errors",
        ),
        ("Traceback (most recent call last):\n", "no result (pytest exit 4)"),
    ],
    ids=["passed", "failed", "collection error", "everything", "no summary"],
)
def test_the_cell_counts_what_pytest_closed_on(output, cell):
    assert summary(output, 4) == cell


def test_each_wheel_comes_from_an_extra_of_pyproject():
    wheels = [server for server in SERVERS if server.module]
    assert [server.major for server in wheels] == ["14", "16", "17", "18"]
    for server in wheels:
        (requirement,) = extra_requirements(server.extra)
        assert requirement.replace("-", "_").startswith(server.module)


def test_a_wheel_not_installed_is_named_as_missing():
    with pytest.raises(Missing, match="no_such_wheel is not installed"):
        wheel_bindir("no_such_wheel")
