"""Talk mode: who may do what when a room takes part, and how the room finds the app.

Talk mode is on when the server starts with `MNIST_TALK_KEY` set (`make talk` sets a random one).
A session that shows the key is the presenter's; every other session is the audience, which
only gets the Join page. The key travels once: `/presenter#key=KEY` posts it from the browser in a
request body (the fragment never leaves the browser, so no proxy logs it); `/talk?key=KEY` still
works, and the app removes the key from the address bar at once (the projector shows it).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import os
import secrets
import socket
import threading
import time

KEY_ENV = "MNIST_TALK_KEY"
PUBLIC_URL_ENV = "MNIST_PUBLIC_URL"  # e.g. http://192.168.1.20:8501 when the guess below is wrong
JOIN_PATH = "join"
TALK_PATH = "talk"
SIGN_IN_PATH = "presenter"


def configured_key() -> str | None:
    """The presenter's key, or None when talk mode is off (unset or blank)."""
    key = os.environ.get(KEY_ENV, "").strip()
    return key or None


def is_talk_mode() -> bool:
    return configured_key() is not None


def key_matches(given: object) -> bool:
    """Whether `given` is the presenter's key (constant-time: the room may try keys)."""
    key = configured_key()
    if key is None or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), key.encode())


class KeyGuard:
    """Slows down guessing the key: after n wrong keys in a row from one client, its next try is
    refused for 2^(n-1) s, up to MAX_WAIT (a person who mistyped waits a second; a script guessing
    72-bit keys gets nowhere). A right key resets the client. In memory, per server process."""

    MAX_WAIT = 60.0

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # client → (wrong keys in a row, allowed again at)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds until `client` may try a key again (0.0: now)."""
        with self._lock:
            _, until = self._failures.get(client, (0, 0.0))
        return max(0.0, until - self._clock())

    def check(self, client: str, given: object) -> bool:
        """Whether `given` is the key; False without comparing while the client must wait."""
        if self.wait(client):
            return False
        right = key_matches(given)
        with self._lock:
            if right:
                self._failures.pop(client, None)
            else:
                wrong = self._failures.get(client, (0, 0.0))[0] + 1
                self._failures[client] = (wrong, self._clock() + min(self.MAX_WAIT, 2.0 ** (wrong - 1)))
                if len(self._failures) > 10_000:  # a flood of addresses: forget the oldest
                    self._failures.pop(next(iter(self._failures)))
        return right


KEY_GUARD = KeyGuard()  # shared by the HTTP gate and the Talk page's key field

PRESENTER_COOKIE = "mnist_presenter"  # set by opening /talk?key=KEY (audience/server.py's gate)


def presenter_cookie_value(key: str) -> str:
    """What the presenter's cookie holds: derived from the key, never the key itself."""
    return hmac.new(key.encode(), b"presenter-cookie", hashlib.sha256).hexdigest()


def is_presenter_cookie(value: object) -> bool:
    key = configured_key()
    return key is not None and isinstance(value, str) and hmac.compare_digest(value, presenter_cookie_value(key))


def pace_wall(shown: list[int], newest: list[int], per_refresh: int) -> tuple[list[int], bool]:
    """The wall's next tiles, newest first: `newest` is the room's newest visible ids (as many as
    the wall has tiles), `shown` the ids on the wall now. At most `per_refresh` tiles change, the
    newest missing ones first; the rest come on later refreshes if nothing newer overtakes them.
    Also whether digits arrive faster than that. A hall sends 100 digits a second: all of them on
    the wall would be a blur, so tiles come at a pace a room can read, and every digit is still
    counted, scored and moderable."""
    missing = [i for i in newest if i not in shown]
    joining = missing[:per_refresh]
    oldest = min(newest, default=0)
    kept = [i for i in shown if i in newest or i < oldest]  # within the newest and absent: hidden
    wall = sorted(set(joining) | set(kept), reverse=True)[:len(newest)]
    return wall, len(missing) > per_refresh


def new_key() -> str:
    """A key for `make talk`: 12 URL-safe characters, 72 bits (no one guesses it over Wi-Fi)."""
    return secrets.token_urlsafe(9)


def _interface_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, read from the kernel (Linux ioctl
    SIOCGIFADDR): nothing is sent anywhere. Empty where that is not available."""
    try:
        import fcntl
        import struct

        addresses = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                try:
                    packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
                except OSError:  # an interface without an IPv4 address
                    continue
                addresses.append(socket.inet_ntoa(packed[20:24]))
        return addresses
    except (ImportError, OSError, AttributeError):
        return []


def lan_address() -> str:
    """This machine's address on the local network, the one phones in the room can reach; the
    loopback address when it has none."""
    candidates = _interface_addresses()
    try:
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    for address in candidates:
        ip = ipaddress.ip_address(address)
        if not ip.is_loopback and not ip.is_link_local:
            return address
    return "127.0.0.1"


def public_base_url(port: int) -> str:
    """The address the audience types or scans: MNIST_PUBLIC_URL if set, else http://LAN-IP:PORT."""
    configured = os.environ.get(PUBLIC_URL_ENV, "").strip().rstrip("/")
    return configured or f"http://{lan_address()}:{int(port)}"


def join_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{JOIN_PATH}"


def presenter_url(base_url: str, key: str) -> str:
    """The older form, kept working: the key in the query, which proxies and servers log."""
    return f"{base_url.rstrip('/')}/{TALK_PATH}?key={key}"


def sign_in_url(base_url: str, key: str) -> str:
    """What `make talk` prints: the key in the fragment, which the browser never sends."""
    return f"{base_url.rstrip('/')}/{SIGN_IN_PATH}#key={key}"


def qr_png(url: str, scale: int = 10) -> bytes:
    """The URL as a QR code PNG, black on white with the standard quiet zone (segno, pinned)."""
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """`python -m mnist_core.talk.presenter --new-key` prints a fresh key; `--urls PORT` prints the
    presenter's and the audience's URLs for the key in MNIST_TALK_KEY (what `make talk` shows)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mnist_core.talk.presenter")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--new-key", action="store_true")
    group.add_argument("--urls", type=int, metavar="PORT")
    args = parser.parse_args(argv)
    if args.new_key:
        print(new_key())
        return 0
    key = configured_key()
    if key is None:
        print(f"error: set {KEY_ENV} (make talk does)", file=__import__("sys").stderr)
        return 2
    base = public_base_url(args.urls)
    print(f"Talk mode. Presenter, open on the projector's browser:  {sign_in_url(base, key)}")
    print(f"The audience joins at {join_url(base)} (the Talk page shows it as a QR code).")
    print(f"Wrong address? Set {PUBLIC_URL_ENV}=http://ADDRESS:{args.urls} and run make talk again.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
