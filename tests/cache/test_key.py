"""The cache key: canonical, deterministic across processes, and blind to what only labels a request."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from switchyard.auth import Caller
from switchyard.cache.directives import directives
from switchyard.cache.key import deterministic, request_key
from switchyard.cache.partition import partition_of
from switchyard.core.call import Call, Kind
from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import validate_chat

BASE = {"model": "chat", "messages": [{"role": "user", "content": "hello"}], "temperature": 0}


def _call(body: dict[str, Any], alias: str = "chat", headers: dict[str, str] | None = None,
          native: Any = None, kind: Kind = Kind.CHAT, tags: tuple[str, ...] = ()) -> Call:
    request = validate_chat(body)
    request.native = native
    call = Call("r", request=request, kind=kind, headers=headers or {}, tags=tags)
    call.group = SimpleNamespace(alias=alias)
    return call


def test_labels_and_spelling_do_not_change_the_key():
    key = request_key(_call(BASE))
    same = [
        {**BASE, "user": "someone", "metadata": {"trace": "x"}, "safety_identifier": "s", "store": True},
        {**BASE, "temperature": 0.0},                                                  # 0.0 is 0
        {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]},  # one text part
        dict(reversed(list(BASE.items()))),                                             # key order
    ]
    for body in same:
        assert request_key(_call(body)) == key, body


def test_what_changes_the_answer_changes_the_key():
    key = request_key(_call(BASE))
    different = [
        {**BASE, "messages": [{"role": "user", "content": "hello!"}]},
        {**BASE, "temperature": 0.5}, {**BASE, "top_p": 0.9}, {**BASE, "max_tokens": 10}, {**BASE, "stop": ["x"]},
        {**BASE, "seed": 1}, {**BASE, "n": 2}, {**BASE, "stream": True},
        {**BASE, "tools": [{"type": "function", "function": {"name": "f"}}]},
        {**BASE, "tool_choice": "none"}, {**BASE, "response_format": {"type": "json_object"}},
        {**BASE, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]},
    ]
    keys = {request_key(_call(body)) for body in different}
    assert key not in keys and len(keys) == len(different)
    assert request_key(_call(BASE, alias="other")) != key
    assert request_key(_call(BASE, tags=("eu",))) != key
    assert request_key(_call(BASE, kind=Kind.COMPLETE)) != key
    assert request_key(_call({**BASE, "model": "another-name"})) != key  # as asked, though the alias decides
    anthropic = {"model": "chat", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]}
    native = request_key(_call(BASE, native=("anthropic", anthropic)))
    assert native != key
    assert request_key(_call(BASE, native=("anthropic", anthropic), headers={"anthropic-beta": "x"})) != native


def test_the_key_is_the_same_in_another_process():
    code = ("from tests.cache.test_key import _call, BASE; from switchyard.cache.key import request_key; "
            "print(request_key(_call(BASE)).hex())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONHASHSEED": "123"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == request_key(_call(BASE)).hex()


def test_only_deterministic_requests_by_default():
    assert deterministic(_call(BASE))
    assert deterministic(_call({**BASE, "temperature": 0.7, "seed": 3}))
    assert not deterministic(_call({**BASE, "temperature": 0.7}))
    assert not deterministic(_call({"model": "chat", "messages": BASE["messages"]}))


def test_the_partition_comes_from_the_key_never_the_request():
    acme = Caller("a", tenant="acme", team="red")
    assert partition_of(acme, "tenant") == partition_of(Caller("b", tenant="acme"), "tenant")
    assert partition_of(acme, "tenant") != partition_of(Caller("c", tenant="globex"), "tenant")
    assert partition_of(acme, "team") != partition_of(Caller("d", tenant="acme", team="blue"), "team")
    assert partition_of(acme, "key") != partition_of(Caller("b", tenant="acme"), "key")
    # no tenant: kept apart by the key itself; a directory id is not a name
    assert partition_of(Caller("solo"), "tenant") != partition_of(Caller("other"), "tenant")
    assert partition_of(Caller("x", tenant_id="acme"), "tenant") != partition_of(Caller("y", tenant="acme"), "tenant")
    assert partition_of(Caller("v", key_id="key_1", tenant_id="t1"), "key") == "key-id:key_1"


def test_cache_control_directives():
    assert directives({}).no_cache is False
    assert directives({"cache-control": "no-cache"}).no_cache
    assert directives({"cache-control": "No-Store, private"}).no_store
    assert directives({"cache-control": "max-age=60"}).max_age == 60
    assert directives({"cache-control": "max-age=0"}).no_cache
    with pytest.raises(InvalidRequest) as refused:
        directives({"cache-control": "max-age=soon"})
    assert refused.value.param == "cache-control" and refused.value.code == "invalid_cache_control"
