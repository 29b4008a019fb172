import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_core.talk import presenter


def test_talk_mode_is_off_without_a_key_and_blank_counts_as_none(monkeypatch):
    monkeypatch.delenv(presenter.KEY_ENV, raising=False)
    assert not presenter.is_talk_mode() and presenter.configured_key() is None
    monkeypatch.setenv(presenter.KEY_ENV, "   ")
    assert not presenter.is_talk_mode()
    assert not presenter.key_matches("")  # no key configured: nothing matches, not even blank


def test_only_the_exact_key_matches(monkeypatch):
    monkeypatch.setenv(presenter.KEY_ENV, "s3cret-Key")
    assert presenter.is_talk_mode()
    assert presenter.key_matches("s3cret-Key") and presenter.key_matches(" s3cret-Key ")
    for wrong in ("s3cret-key", "s3cret", "", None, 12345, ["s3cret-Key"]):
        assert not presenter.key_matches(wrong)


def test_new_keys_are_long_random_and_url_safe():
    keys = {presenter.new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(k) == 12 and k.replace("-", "").replace("_", "").isalnum() for k in keys)


def test_urls_for_the_presenter_and_the_room(monkeypatch):
    monkeypatch.setenv(presenter.PUBLIC_URL_ENV, "http://192.168.1.20:8501/")
    base = presenter.public_base_url(8501)
    assert base == "http://192.168.1.20:8501"
    assert presenter.join_url(base) == "http://192.168.1.20:8501/join"
    assert presenter.presenter_url(base, "abc") == "http://192.168.1.20:8501/talk?key=abc"
    assert presenter.sign_in_url(base, "abc") == "http://192.168.1.20:8501/presenter#key=abc"
    monkeypatch.delenv(presenter.PUBLIC_URL_ENV)
    assert presenter.public_base_url(9000).startswith("http://") and presenter.public_base_url(9000).endswith(":9000")


def test_qr_code_is_a_png_with_a_white_quiet_zone():
    png = presenter.qr_png("http://192.168.1.20:8501/join", scale=8)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert image.shape[0] == image.shape[1] >= (21 + 8) * 8  # at least version 1 plus the border
    border = 4 * 8
    assert image[:border].min() == 255 and image[:, :border].min() == 255  # quiet zone
    assert image.min() == 0  # and black modules


def test_make_talk_helpers_print_a_key_and_the_urls(monkeypatch):
    key = subprocess.run([sys.executable, "-m", "mnist_core.talk.presenter", "--new-key"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert len(key) == 12
    env = {"MNIST_TALK_KEY": key, "MNIST_PUBLIC_URL": "http://10.1.2.3:8501", "PATH": ""}
    out = subprocess.run([sys.executable, "-m", "mnist_core.talk.presenter", "--urls", "8501"], capture_output=True,
                         text=True, check=True, env=env).stdout
    assert f"http://10.1.2.3:8501/presenter#key={key}" in out and "http://10.1.2.3:8501/join" in out
    assert "?key=" not in out, "make talk prints the form whose key never reaches a server's log"
    refused = subprocess.run([sys.executable, "-m", "mnist_core.talk.presenter", "--urls", "8501"], capture_output=True,
                             text=True, env={"PATH": ""})
    assert refused.returncode == 2 and "MNIST_TALK_KEY" in refused.stderr


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "192.168.178.4"])
def test_lan_address_prefers_a_real_interface(monkeypatch, address):
    monkeypatch.setattr(presenter, "_interface_addresses", lambda: ["127.0.0.1"])
    monkeypatch.setattr(presenter.socket, "getaddrinfo",
                        lambda *a, **k: [(None, None, None, None, ("127.0.1.1", 0)),
                                         (None, None, None, None, (address, 0))])
    assert presenter.lan_address() == address


def test_interface_addresses_come_from_the_kernel():
    addresses = presenter._interface_addresses()
    assert "127.0.0.1" in addresses  # the loopback interface is always there on Linux
    assert presenter.lan_address() in addresses or presenter.lan_address() == "127.0.0.1"


def test_wrong_keys_are_slowed_down_per_client_and_the_right_key_resets(monkeypatch):
    monkeypatch.setenv(presenter.KEY_ENV, "the-right-key")
    now = [0.0]
    guard = presenter.KeyGuard(clock=lambda: now[0])
    assert guard.check("10.0.0.5", "the-right-key") and guard.wait("10.0.0.5") == 0
    waits = []
    for _ in range(8):
        assert not guard.check("10.0.0.5", "wrong")
        waits.append(guard.wait("10.0.0.5"))
        now[0] += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60], "doubling, capped at a minute"
    assert guard.wait("10.0.0.6") == 0, "another client is not held up"
    now[0] += 61
    assert guard.check("10.0.0.5", "the-right-key") and guard.wait("10.0.0.5") == 0


def test_while_a_client_waits_even_the_right_key_is_not_compared(monkeypatch):
    monkeypatch.setenv(presenter.KEY_ENV, "the-right-key")
    guard = presenter.KeyGuard(clock=lambda: 0.0)
    guard.check("c", "wrong")
    assert not guard.check("c", "the-right-key")


def test_the_presenters_cookie_is_derived_from_the_key_and_checked(monkeypatch):
    monkeypatch.setenv(presenter.KEY_ENV, "the-right-key")
    value = presenter.presenter_cookie_value("the-right-key")
    assert "the-right-key" not in value and presenter.is_presenter_cookie(value)
    assert not presenter.is_presenter_cookie(presenter.presenter_cookie_value("another-key"))
    assert not presenter.is_presenter_cookie(None) and not presenter.is_presenter_cookie("")
    monkeypatch.delenv(presenter.KEY_ENV)
    assert not presenter.is_presenter_cookie(value), "no talk mode, no presenter"


def test_the_wall_changes_at_most_a_few_tiles_a_refresh_newest_first():
    newest = list(range(30, 12, -1))  # the room's 18 newest ids
    wall, behind = presenter.pace_wall([], newest, per_refresh=6)
    assert wall == [30, 29, 28, 27, 26, 25] and behind
    wall, behind = presenter.pace_wall(wall, newest, per_refresh=6)
    assert wall == list(range(30, 18, -1)) and behind
    wall, behind = presenter.pace_wall(wall, newest, per_refresh=6)
    assert wall == newest and not behind, "nothing new: the wall fills up with what it passed over"
    flood = list(range(530, 512, -1))  # 500 more arrived before the next refresh
    wall, behind = presenter.pace_wall(wall, flood, per_refresh=6)
    assert wall[:6] == [530, 529, 528, 527, 526, 525] and len(wall) == 18 and behind
    assert wall[6:] == newest[:12], "the older tiles move along, the oldest leave"
    hidden = [i for i in flood if i != 529]  # a digit hidden by the presenter is no longer among the newest
    assert 529 not in presenter.pace_wall(wall, hidden, per_refresh=6)[0]
