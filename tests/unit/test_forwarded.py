"""The client's address behind a balancer (mnist_core.talk.forwarded): X-Forwarded-For is believed
only from a trusted proxy, and only as far as the chain of trusted proxies goes."""

import pytest

from mnist_core.talk import forwarded

PROXIES = forwarded.parse_trusted("127.0.0.1, 10.0.0.0/8, ::1")


def client(peer, *headers, networks=PROXIES):
    return forwarded.client_address(peer, list(headers), networks)


def test_nobody_is_trusted_by_default(monkeypatch):
    monkeypatch.delenv(forwarded.TRUSTED_PROXIES_ENV, raising=False)
    assert forwarded.trusted_proxies() == ()
    assert forwarded.client_address("127.0.0.1", ["203.0.113.9"]) == "127.0.0.1"


def test_the_setting_is_read_from_the_environment_and_parsed_once(monkeypatch):
    monkeypatch.setenv(forwarded.TRUSTED_PROXIES_ENV, " 127.0.0.1 ,10.0.0.0/8,")
    assert [str(n) for n in forwarded.trusted_proxies()] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert forwarded.trusted_proxies() is forwarded.trusted_proxies()
    assert forwarded.client_address("10.1.2.3", ["203.0.113.9"]) == "203.0.113.9"


def test_a_bad_setting_names_the_entry():
    with pytest.raises(ValueError, match="'proxy.example.org'"):
        forwarded.parse_trusted("127.0.0.1,proxy.example.org")


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored():
    assert client("198.51.100.7", "1.2.3.4") == "198.51.100.7"
    assert client("198.51.100.7", "127.0.0.1") == "198.51.100.7"


def test_from_the_proxy_the_client_is_the_address_it_forwarded():
    assert client("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert client("127.0.0.1") == "127.0.0.1", "no header: the proxy itself"


def test_a_chain_is_walked_from_the_right_past_trusted_proxies_only():
    # The phone forged "1.2.3.4"; the edge proxy appended the phone's address; an inner proxy its own.
    assert client("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.2") == "203.0.113.9"
    assert client("127.0.0.1", "1.2.3.4", "203.0.113.9, 10.0.0.2") == "203.0.113.9", "several header lines"
    assert client("127.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3", "every hop trusted: the furthest"


def test_garbage_in_the_header_never_becomes_an_address():
    assert client("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert client("127.0.0.1", "203.0.113.9, <script>, 10.0.0.2") == "10.0.0.2"
    assert client("127.0.0.1", " , ,") == "127.0.0.1"
    assert client("127.0.0.1", "x" * 10_000) == "127.0.0.1"


def test_addresses_as_proxies_write_them():
    assert client("127.0.0.1", "203.0.113.9:51234") == "203.0.113.9"
    assert client("::1", "[2001:db8::7]:443") == "2001:db8::7"
    assert client("::1", "2001:db8::7") == "2001:db8::7"


def test_a_peer_without_an_address():
    assert client(None, "203.0.113.9") == forwarded.UNKNOWN
    assert client("testclient", "203.0.113.9") == "testclient"
