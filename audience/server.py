"""Talk mode over plain HTTP, beside Streamlit in the same server (streamlit_app.py's st.App):

- `/join`: the phone's page, one small HTML file with its own canvas script (no Streamlit frontend);
- `POST /api/join/token` and `POST /api/join/send`: a signed person token, and a Send;
- `/presenter` and `POST /api/presenter`: the presenter's sign-in, the key in a body, never in an
  address (`/presenter#key=KEY`: the fragment stays in the browser);
- `AudienceGate`: in talk mode, every page address leads an audience member to /join; only a
  browser holding the presenter's cookie (set by /presenter, or by opening /talk?key=KEY once)
  gets the demo pages.

The event loop only checks and moves bytes: judging and storing run in `audience.JudgePool`'s
worker processes (mnist_core.talk.audience)."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import html
import json
import logging
import os
import socket
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from mnist_core.data import preprocess
from mnist_core.talk import audience, crowd, forwarded, presenter

JOIN_HTML = Path(__file__).with_name("join.html")
PRESENTER_HTML = Path(__file__).with_name("presenter.html")
LOG = logging.getLogger(__name__)
ANSWERED_KEPT = 50_000  # (token, send id) → answer, for retries that come back to this process
TALK_ID_SECONDS = 1.0  # how stale the current talk's id may be (a New talk is seen within it)
# Paths the gate never redirects: Streamlit's own (websocket, health, assets, media, components)
# and files (a name with a dot: favicon, manifest), and ours.
PASS_PREFIXES = ("/_stcore/", "/static/", "/media/", "/component/", "/api/")


class Room:
    """What the audience path keeps in the server process: the store, the current talk's signing
    key, the limits, the answers already given, and the judging workers."""

    def __init__(self, store: crowd.CrowdStore | None = None, pool: audience.JudgePool | None = None,
                 limits: audience.Limits = audience.Limits()):
        self.store = store or crowd.CrowdStore()
        self.pool = pool or audience.JudgePool(self.store.url)
        self.limits = limits
        self.secret = self.store.room_secret()
        self.tokens_by_address = audience.Buckets(*limits.tokens_per_address)
        self.sends_by_address = audience.Buckets(*limits.sends_per_address)
        self.sends_by_room = audience.Buckets(*limits.sends_per_room)
        self.answered: collections.OrderedDict[tuple[str, str], dict] = collections.OrderedDict()
        self.last_send: dict[str, float] = {}  # token → when its last digit was stored (monotonic)
        self._talk = (0, 0.0)  # (talk id, when read)

    def talk_id(self, fresh: bool = False) -> int:
        talk_id, read = self._talk
        now = time.monotonic()
        if fresh or not talk_id or now - read > TALK_ID_SECONDS:
            try:
                talk_id = self.store.current_talk()
            except crowd.CrowdStoreError as exc:  # PostgreSQL restarting: the phone tries again by itself
                LOG.warning("No current talk: %s", exc)
                raise audience.Refused(503, "store_error", "The room's database is not answering; your phone "
                                                           "tries again by itself.", audience.STORE_RETRY_SECONDS) from None
            self._talk = (talk_id, now)
        return talk_id

    def key(self, talk_id: int) -> bytes:
        return audience.talk_key(self.secret, talk_id)

    def check_token(self, token: str) -> int:
        """The talk this token belongs to (the current one), or Refused(401)."""
        talk_id = self.talk_id()
        if audience.token_is_valid(self.key(talk_id), token):
            return talk_id
        # A New talk may have begun in the last second: look once more, but at most once a second
        # per process, so forged tokens cost a compare, not a database read.
        if time.monotonic() - self._talk[1] > 0.5:
            fresh = self.talk_id(fresh=True)
            if fresh != talk_id and audience.token_is_valid(self.key(fresh), token):
                return fresh
        raise audience.Refused(401, "token", "This page's person token is not from this talk. The page gets a "
                                              "new one by itself; if this stays, reload the page.")

    def remember(self, send: audience.Send, body: dict) -> None:
        self.answered[(send.token, send.send_id)] = body
        while len(self.answered) > ANSWERED_KEPT:
            self.answered.popitem(last=False)
        self.last_send[send.token] = time.monotonic()
        if len(self.last_send) > ANSWERED_KEPT:
            self.last_send.clear()  # only a shortcut: the store still enforces the per-person limits


def _address(request: Request) -> str:
    """The client, for per-address limits and the key guard: the peer, or behind a trusted proxy
    the address it forwarded (mnist_core.talk.forwarded)."""
    return forwarded.client_address(request.client.host if request.client else None,
                                    request.headers.getlist("x-forwarded-for"))


def _refusal(exc: audience.Refused) -> JSONResponse:
    headers = {"Retry-After": audience.retry_after_seconds(exc.retry_after)} if exc.retry_after else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


ROOM: list[Room] = []  # the running server's room (set by `lifespan`, in talk mode only)


def _room(request: Request) -> Room:
    room = ROOM[0] if ROOM else None
    if room is None:
        raise audience.Refused(404, "talk_off", "No talk is running here: the presenter starts one with make talk.")
    return room


_page_cache: dict[str, bytes] = {}


def join_page_html() -> bytes:
    """The phone's page, with the models' colours filled in from the one palette (the projector's:
    they keep 3:1 on white in sunlight) and the limits from the store's constants."""
    if "page" not in _page_cache:
        from mnist_core import charts  # Plotly comes with it: only when the first phone asks, not at start

        text = JOIN_HTML.read_text(encoding="utf-8")
        fills = {"{{ANN_COLOR}}": charts.kind_color("ann", projector=True),
                 "{{CNN_COLOR}}": charts.kind_color("cnn", projector=True),
                 "{{PEN_FRACTION}}": f"{preprocess.DEFAULT_PEN / audience.SEND_CANVAS:.5f}",  # the Draw page's default pen
                 "{{SEND_CANVAS}}": str(audience.SEND_CANVAS)}
        for mark, value in fills.items():
            text = text.replace(mark, html.escape(value))
        _page_cache["page"] = text.encode("utf-8")
    return _page_cache["page"]


async def join(request: Request) -> Response:
    return HTMLResponse(join_page_html(), headers={"Cache-Control": "no-cache"})


async def new_token(request: Request) -> Response:
    try:
        room = _room(request)
        wait = room.tokens_by_address.take(_address(request))
        if wait:
            raise audience.Refused(429, "busy", "Many phones are joining from this network; trying again shortly.", wait)
        talk_id = room.talk_id()
        return JSONResponse({"token": audience.issue_token(room.key(talk_id)), "talk": talk_id},
                            headers={"Cache-Control": "no-store"})
    except audience.Refused as exc:
        return _refusal(exc)


async def _body(request: Request, limit: int = audience.MAX_BODY_BYTES) -> bytes:
    """The request body, refused past `limit` bytes before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise audience.too_large(int(declared) if declared.isdigit() else 0)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise audience.too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


STATUS_OF = {"ok": 200, "not_a_digit": 422, "bad_drawing": 400, "rate_limited": 429, "store_error": 503,
             "server_error": 500}


async def send(request: Request) -> Response:
    try:
        room = _room(request)
        parsed = audience.parse_send(await _body(request))
        talk_id = room.check_token(parsed.token)
        earlier = room.answered.get((parsed.token, parsed.send_id))
        if earlier is not None:
            return JSONResponse({**earlier, "retry": True})
        for buckets, message in ((room.sends_by_address, "Many digits are arriving from this network"),
                                 (room.sends_by_room, "The room is sending more digits than the server can judge")):
            wait = buckets.take(_address(request)) if buckets is room.sends_by_address else buckets.take("room")
            if wait:
                raise audience.Refused(429, "busy", f"{message}; your phone sends it again by itself.", wait)
        last = room.last_send.get(parsed.token)
        if last is not None and time.monotonic() - last < crowd.MIN_SECONDS_BETWEEN_DIGITS:
            wait = last + crowd.MIN_SECONDS_BETWEEN_DIGITS - time.monotonic()
            raise audience.Refused(429, "rate_limited", f"You can send another digit in {audience.retry_after_seconds(wait)} s.",
                                   wait)
        if room.pool.queued >= room.limits.queued_per_worker * room.pool.workers:
            raise audience.Refused(503, "busy", "The server is judging many digits; your phone sends it again by itself.", 1.0)
        try:
            body = await asyncio.wrap_future(room.pool.submit(audience.judge_and_store, talk_id, parsed))
        except concurrent.futures.process.BrokenProcessPool:
            raise audience.Refused(503, "busy", "A judging process stopped; your phone sends it again by itself.", 0.5) from None
        status = STATUS_OF.get(body["status"], 500)
        if status == 500:
            LOG.error("Send not judged: %s", body.get("message"))
        if status == 200:
            room.remember(parsed, body)
        headers = {"Retry-After": audience.retry_after_seconds(body["retry_after"])} if body.get("retry_after") else None
        return JSONResponse(body, status_code=status, headers=headers)
    except audience.Refused as exc:
        return _refusal(exc)


async def robots(request: Request) -> Response:
    """A talk's server is for the people in the room, not for search engines."""
    return PlainTextResponse("User-agent: *\nDisallow: /\n")


# The presenter's sign-in page: no store, no Referer (it is the one page that handles the key), no framing.
PRESENTER_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                     "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
                                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"}
PRESENTER_BODY_BYTES = 1024  # {"key": "..."}


@functools.cache
def presenter_page_html() -> bytes:
    return PRESENTER_HTML.read_bytes()  # read once, like the join page


async def presenter_page(request: Request) -> Response:
    return HTMLResponse(presenter_page_html(), headers=PRESENTER_HEADERS)


def _wrong_key(status: int, wait: float, message: str) -> JSONResponse:
    seconds = audience.retry_after_seconds(wait)
    return JSONResponse({"status": "wrong_key", "message": message.format(seconds=seconds), "retry_after": round(wait, 1)},
                        status_code=status, headers={"Retry-After": seconds, "Cache-Control": "no-store"})


async def presenter_sign_in(request: Request) -> Response:
    """`POST /api/presenter` {"key": KEY}: the right key gets the presenter's cookie; a wrong one
    makes this client wait (401, then 429 while waiting: presenter.KEY_GUARD)."""
    if not presenter.is_talk_mode():
        return JSONResponse({"status": "talk_off", "message": "No talk is running here: start one with make talk."},
                            status_code=404)
    address = _address(request)
    wait = presenter.KEY_GUARD.wait(address)
    if wait:
        return _wrong_key(429, wait, "Too many wrong keys: try again in {seconds} s.")
    try:
        given = json.loads(await _body(request, PRESENTER_BODY_BYTES)).get("key")
    except audience.Refused:
        return JSONResponse({"status": "too_large", "message": "That is not a key."}, status_code=413)
    except (ValueError, AttributeError):
        return JSONResponse({"status": "bad_request", "message": 'Send {"key": "..."} as JSON.'}, status_code=400)
    if not presenter.KEY_GUARD.check(address, given):
        return _wrong_key(401, presenter.KEY_GUARD.wait(address),
                          "That is not the presenter's key (make talk printed it). Try again in {seconds} s.")
    response = JSONResponse({"status": "ok", "next": "/talk"}, headers={"Cache-Control": "no-store"})
    set_presenter_cookie(response, request)
    return response


def set_presenter_cookie(response: Response, request: Request) -> None:
    """The HttpOnly cookie that makes this browser the presenter's: derived from the key, never
    the key; Secure when the room reaches us over HTTPS (the balancer says so)."""
    response.set_cookie(presenter.PRESENTER_COOKIE, presenter.presenter_cookie_value(presenter.configured_key()),
                        httponly=True, samesite="strict", max_age=24 * 3600, secure=request.url.scheme == "https")


ROUTES = [
    Route("/join", join, methods=["GET", "HEAD"]),
    Route("/presenter", presenter_page, methods=["GET", "HEAD"]),
    Route("/api/presenter", presenter_sign_in, methods=["POST"]),
    Route("/robots.txt", robots, methods=["GET", "HEAD"]),
    Route("/api/join/token", new_token, methods=["POST"]),
    Route("/api/join/send", send, methods=["POST"]),
]


class AudienceGate:
    """ASGI middleware for talk mode: page addresses lead the audience to /join (/presenter only
    asks for a key); `/talk?key=KEY` with the right key sets the presenter's cookie and drops the
    key from the address (the projector shows the address bar); wrong keys are slowed down
    (presenter.KEY_GUARD)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not presenter.is_talk_mode():
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path in ("/join", "/presenter") or path.startswith(PASS_PREFIXES) or "." in path.rsplit("/", 1)[-1]:
            return await self.app(scope, receive, send)
        request = Request(scope)
        if path.rstrip("/") == "/talk" and "key" in request.query_params:
            return await self._key(request, scope, receive, send)
        if presenter.is_presenter_cookie(request.cookies.get(presenter.PRESENTER_COOKIE)) or path.rstrip("/") == "/talk":
            return await self.app(scope, receive, send)  # /talk without the cookie: its key field
        return await RedirectResponse("/join", status_code=303)(scope, receive, send)

    async def _key(self, request: Request, scope, receive, send):
        given = request.query_params.get("key", "")
        wait = presenter.KEY_GUARD.wait(_address(request))
        if wait:
            return await Response(f"Too many wrong keys: try again in {audience.retry_after_seconds(wait)} s.",
                                  status_code=429, headers={"Retry-After": audience.retry_after_seconds(wait)},
                                  media_type="text/plain")(scope, receive, send)
        response = RedirectResponse("/talk", status_code=303)
        if presenter.KEY_GUARD.check(_address(request), given):
            set_presenter_cookie(response, request)
        return await response(scope, receive, send)


def no_delay_on_listening_sockets() -> int:
    """Turn Nagle's algorithm off on this process's listening TCP sockets (Linux; accepted
    connections inherit it), and return how many. Streamlit binds its socket with protocol 0, so
    asyncio never sets TCP_NODELAY on a connection, and uvicorn writes a response's head and body
    in two sends: on a kept-alive connection every response after the first then waited ~40 ms for
    the client's delayed ACK (measured: 0.5 ms to the first byte, 43 ms to the last)."""
    done = 0
    try:
        descriptors = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return 0
    for fd in descriptors:
        try:
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue  # not a socket
        try:
            if (probe.type == socket.SOCK_STREAM and probe.family in (socket.AF_INET, socket.AF_INET6)
                    and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                probe.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                done += 1
        except OSError:
            pass
        finally:
            probe.close()
    return done


def check_forwarding() -> None:
    """A bad MNIST_TRUSTED_PROXIES stops the server at start, not at the first phone; and uvicorn,
    which trusts X-Forwarded-For from 127.0.0.1 unless FORWARDED_ALLOW_IPS says otherwise, should
    be told the same list (mnist_core.talk.forwarded)."""
    trusted = forwarded.trusted_proxies()
    if trusted and os.environ.get("FORWARDED_ALLOW_IPS") is None:
        LOG.warning("%s is set but FORWARDED_ALLOW_IPS is not: set it to the same list, so that uvicorn and "
                    "Streamlit see the same client addresses as the audience path.", forwarded.TRUSTED_PROXIES_ENV)


@contextlib.asynccontextmanager
async def lifespan(app):
    """Every server: no 40 ms stalls on kept-alive connections. In talk mode: the room's store and
    the judging workers, started before the first phone (the warm-up runs in the background: the
    server answers at once)."""
    no_delay_on_listening_sockets()
    if not presenter.is_talk_mode():
        yield {}
        return
    check_forwarding()
    room = Room()
    ROOM[:] = [room]
    warm = asyncio.get_running_loop().run_in_executor(None, room.pool.warm_up)
    try:
        yield {"room": room}
    finally:
        ROOM.clear()
        warm.cancel()
        room.pool.shutdown()
        room.store.close()
