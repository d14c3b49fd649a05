import httpx
import pytest

from loom_nb.testing import FakeLLMServer, Reply


def test_unknown_routes_404_and_only_loopback():
    with FakeLLMServer() as srv:
        assert httpx.get(srv.url + "/v1/models").status_code == 404
        assert httpx.post(srv.url + "/v1/messages", content=b"{not json").status_code == 400
    with pytest.raises(ValueError, match="loopback"):
        FakeLLMServer(host="0.0.0.0")


def test_keys_are_redacted_in_recorded_requests():
    with FakeLLMServer() as srv:
        httpx.post(
            srv.url + "/v1/messages",
            json={"model": "m", "messages": []},
            headers={"x-api-key": "sk-secret", "authorization": "Bearer sk-secret"},
        )
        (req,) = srv.requests
        assert req.headers["x-api-key"] == "<redacted>" and "sk-secret" not in repr(req)


def test_handler_answers_when_the_script_is_empty():
    with FakeLLMServer(handler=lambda req: Reply(text=f"echo {req.body['model']}")) as srv:
        srv.script(Reply(text="scripted"))
        first = httpx.post(srv.openai_base_url + "/chat/completions", json={"model": "m1", "messages": []}).json()
        second = httpx.post(srv.openai_base_url + "/chat/completions", json={"model": "m2", "messages": []}).json()
        assert first["choices"][0]["message"]["content"] == "scripted"
        assert second["choices"][0]["message"]["content"] == "echo m2"
        assert srv.pending == 0
