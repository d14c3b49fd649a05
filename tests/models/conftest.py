import pytest

from loom_nb.testing import FakeLLMServer

KEY = "sk-ant-test-DO-NOT-LEAK-4242"


@pytest.fixture
async def server():
    """A fake server; models built on it by the tests are closed on this loop afterwards."""
    with FakeLLMServer() as srv:
        srv.models = []  # type: ignore[attr-defined]
        yield srv
        for m in srv.models:  # type: ignore[attr-defined]
            await m.aclose()


def assert_no_key_anywhere(server: FakeLLMServer, *texts: str) -> None:
    for req in server.requests:
        assert KEY not in repr(req)
    for text in texts:
        assert KEY not in text
