import pytest

from twin.core.catalog import load_catalog


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    """The small factory of ``engine_helpers`` (6 racks, two deployments, three classes)."""
    from engine_helpers import small_layout

    return small_layout(tmp_path_factory.mktemp("small"))
