"""The ASGI layer in front of the app: everything decided from the request line and headers, before a byte of the
body is read, then the body read into memory within its route's limit.

In order, for every HTTP request:

1. the route's :class:`Policy` (declared on the endpoint with :func:`policy`; unknown routes get the default);
2. header sanity: a ``Content-Length`` that is not a number, a ``Cookie`` header that is not UTF-8 → 400;
3. state-changing methods from a browser on another site or origin (``Sec-Fetch-Site`` other than same-origin or
   none, or an ``Origin`` other than the server's) → 403. This is the first CSRF defence; the second is step 9;
4. authentication for routes that need it (student token from ``Authorization: Bearer`` — which then is the only
   credential looked at — or the session cookie; TA token likewise) → 401 (API) or a redirect to the login page;
5. rate limits: failed logins per client address, uploads and costly pages per student → 429 with Retry-After;
6. ``Content-Length`` over the route's limit → 413 at once; the content type the route accepts → 415;
7. the body, counted as it streams in (a missing or lying ``Content-Length`` is caught here) → 413;
8. JSON nesting depth → 400; multipart boundary and number of parts → 400;
9. CSRF, signed double-submit: a state-changing request without ``Authorization`` (which a page on another site
   cannot add without a CORS preflight this app never grants) must carry the value of the ``csrftoken`` cookie —
   random, HMAC-signed with the server secret, ``__Host-`` prefixed and SameSite=Strict behind https — in its
   ``csrftoken`` form field (the first field of every form here) or an ``X-CSRFToken`` header → else 403. The
   login forms are included: a page elsewhere cannot log a visitor into the attacker's account.

Only then is the request passed on, with the body replayed from memory.

Why not a CSRF middleware package: asgi-csrf 0.11 raises on every multipart form with python-multipart >= 0.0.26
(the release that fixes CVE-2026-40347; simonw/asgi-csrf#38, fix unmerged), and answers malformed cookies and
bodies with a 500; starlette-csrf reads the token only from a header, so plain HTML forms cannot send it
(frankie567/starlette-csrf#18, open). Both would also need the body read again after this layer has read it. Security headers are added to every
response (CSP without inline script or style, frame-ancestors 'none', nosniff, Referrer-Policy same-origin — login
links hold tokens, which must not reach another site —, ``Cache-Control: no-store`` except static files, HSTS behind https).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Callable

from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from urllib.parse import parse_qsl

from python_multipart.multipart import FormParser, MultipartParseError, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

KB, MB = 1024, 1024 * 1024
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Policy:
    """What a route accepts. ``body``: most request-body bytes (None: the competition's upload limit plus
    multipart overhead); ``auth``: None, ``"student"`` or ``"admin"``; ``api``: errors as JSON (else HTML);
    ``content``: accepted body media types (empty: any); ``rate``: ``"login"``, ``"upload"`` or ``"pages"``;
    ``parts``: most multipart parts; ``json_depth``: most nesting of a JSON body."""
    body: int | None = 16 * KB
    auth: str | None = None
    api: bool = False
    content: tuple[str, ...] = ()
    rate: str | None = None
    parts: int = 8
    json_depth: int = 4


DEFAULT = Policy()
API_DEFAULT = Policy(api=True)
UPLOAD_OVERHEAD = 64 * KB


def policy(**kw) -> Callable:
    """Attach a :class:`Policy` to an endpoint (put it under the ``@app.get/post`` decorator)."""
    def deco(fn):
        fn.__lb_policy__ = Policy(**kw)
        return fn
    return deco


CSRF_FIELD = "csrftoken"


class CsrfTokens:
    """Signed double-submit tokens: ``random.hmac(secret, random)``, so a value the server did not make is refused
    even if a sibling site managed to set the cookie."""

    def __init__(self, secret: bytes):
        self.key = hmac.new(secret, b"csrf-token", hashlib.sha256).digest()

    def _sig(self, nonce: str) -> str:
        mac = hmac.new(self.key, nonce.encode("ascii"), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(mac).decode("ascii")

    def new(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sig(nonce)}"

    def valid(self, token: str | None) -> bool:
        if not token or len(token) > 100 or not token.isascii() or token.count(".") != 1:
            return False
        nonce, sig = token.split(".")
        return hmac.compare_digest(sig, self._sig(nonce))


class _Found(Exception):
    pass


def _multipart_field(body: bytes, boundary: bytes, name: str) -> str | None:
    """The value of form field ``name`` in a multipart body, reading no further than that field (forms here put
    the CSRF token first, before the file)."""
    def on_field(field):
        if field.field_name == name.encode():
            raise _Found((field.value or b"").decode("utf-8", "replace"))

    parser = FormParser("multipart/form-data", on_field, lambda f: None, boundary=boundary,
                        config={"MAX_MEMORY_FILE_SIZE": len(body) + 1})
    try:
        parser.write(body)
        parser.finalize()
    except _Found as found:
        return found.args[0]
    except (MultipartParseError, ValueError):
        return None
    return None


class Reject(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        self.status, self.message, self.headers = status, message, headers or {}


def json_depth(data: bytes, limit: int) -> int:
    """Nesting depth of the JSON text ``data`` (brackets outside strings), counting stops past ``limit``."""
    depth = deepest = 0
    in_str = escaped = False
    for b in data:
        if in_str:
            if escaped:
                escaped = False
            elif b == 0x5C:        # backslash
                escaped = True
            elif b == 0x22:        # quote
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):    # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


class RateLimits:
    """Moving-window limits kept in this process's memory (with ``--workers N`` each process counts its own)."""

    def __init__(self, rates: dict[str, str]):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.items = {name: parse_limit(rate.replace(" ", "")) for name, rate in rates.items()}

    def retry_after(self, name: str, who: str) -> int | None:
        """None when ``who`` may go on, else the seconds until it may."""
        item = self.items[name]
        if self.limiter.test(item, name, who):
            return None
        reset = self.limiter.get_window_stats(item, name, who).reset_time
        return max(1, int(reset - time.time()) + 1)

    def hit(self, name: str, who: str) -> None:
        self.limiter.hit(self.items[name], name, who)


class Guard:
    """ASGI middleware; see the module docstring.

    Args:
        app: the FastAPI app (its routes carry the policies).
        inner: what to call once a request passes (the app wrapped in the CSRF middleware).
        authenticate: ``(kind, token) -> principal or None`` for kind ``"student"``/``"admin"`` (may block: it
            runs in a thread).
        credentials: ``(kind, headers) -> token or None`` reading the bearer token or the session cookie.
        error: ``(scope, status, message, api, headers) -> Response``.
        login_page: where an unauthenticated page request is sent, per kind.
        origin: ``(scope, headers) -> "scheme://host[:port]"`` the server's own origin.
        upload_limit: the competition's ``max_upload_bytes``.
        rates: ``{"login": "10/minute", ...}``.
        secure: add Strict-Transport-Security; the CSRF cookie is Secure.
        csrf_secret: the server secret that signs CSRF tokens (shared by every server process).
        csrf_cookie: the CSRF cookie's name.
    """

    def __init__(self, app, inner, *, authenticate, credentials, error, login_page: dict[str, str],
                 origin: Callable[[dict, dict], str], upload_limit: int, rates: "RateLimits | dict[str, str]",
                 secure: bool, csrf_secret: bytes, csrf_cookie: str = CSRF_FIELD):
        self.app, self.inner = app, inner
        self.csrf, self.csrf_cookie, self.secure = CsrfTokens(csrf_secret), csrf_cookie, secure
        self.authenticate, self.credentials, self.error = authenticate, credentials, error
        self.login_page, self.origin, self.upload_limit = login_page, origin, upload_limit
        self.rates = rates if isinstance(rates, RateLimits) else RateLimits(rates)
        self.headers = [
            (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; "
                                         b"img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                                         b"base-uri 'none'"),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]
        if secure:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    def policy_of(self, scope) -> Policy:
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(getattr(route, "endpoint", None), "__lb_policy__", None) or (
                    API_DEFAULT if scope["path"].startswith("/api/") else DEFAULT)
        return API_DEFAULT if scope["path"].startswith("/api/") else DEFAULT

    def _send_with_headers(self, scope, send, csrf_state: dict):
        static = scope["path"].startswith("/static/")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                have = {k.lower() for k, _ in headers}
                for k, v in self.headers:
                    if k not in have:
                        headers.append((k, v))
                if b"cache-control" not in have:
                    headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                if csrf_state.get("set"):
                    attrs = f"{self.csrf_cookie}={csrf_state['token']}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", (attrs + ("; Secure" if self.secure else "")).encode()))
                message = {**message, "headers": headers}
            await send(message)
        return wrapped

    def _csrf_scope(self, scope, headers: dict, state: dict) -> None:
        """Expose ``scope["csrftoken"]()`` to templates: the cookie's token, or a new one the response will set."""
        state.update(token=None, set=False)
        current = None
        if "cookie" in headers:
            jar = SimpleCookie()
            jar.load(headers["cookie"].encode("latin-1").decode("utf-8"))
            current = jar[self.csrf_cookie].value if self.csrf_cookie in jar else None
        state["cookie"] = current if self.csrf.valid(current) else None

        def token() -> str:
            if state["cookie"]:
                return state["cookie"]
            if state["token"] is None:
                state["token"], state["set"] = self.csrf.new(), True
            return state["token"]
        scope[CSRF_FIELD] = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        csrf_state: dict = {}
        send = self._send_with_headers(scope, send, csrf_state)
        pol = self.policy_of(scope)

        try:
            scope, receive = await self._check(scope, receive, pol, csrf_state)
        except Reject as r:
            await self.error(scope, r.status, r.message, pol.api, r.headers)(scope, receive, send)
            return
        if scope is None:      # the client went away while sending
            return
        await self.inner(scope, receive, send)

    async def _check(self, scope, receive, pol: Policy, csrf_state: dict):
        headers: dict[str, str] = {}
        for k, v in scope.get("headers") or []:
            headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        method = scope["method"]
        length = headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            raise Reject(400, "The Content-Length header is not a number.")
        if "cookie" in headers:
            try:
                raw = headers["cookie"].encode("latin-1").decode("utf-8")
                SimpleCookie().load(raw)
            except (UnicodeDecodeError, CookieError):
                raise Reject(400, "The Cookie header cannot be read; clear this site's cookies and reload.") from None
        self._csrf_scope(scope, headers, csrf_state)

        if method in UNSAFE:
            site = headers.get("sec-fetch-site")
            origin = headers.get("origin")
            # "Origin: null" is what a browser sends for its own form under some referrer policies: it is
            # believed only when the browser also says the request is same-origin.
            if origin == "null":
                origin = None if site == "same-origin" else "null"
            if (site is not None and site not in ("same-origin", "none")) or (
                    origin is not None and origin.rstrip("/").lower() != self.origin(scope, headers).lower()):
                raise Reject(403, "Cross-site request refused: this form must be sent from the leaderboard's own "
                                  "pages. Open the leaderboard and try again.")

        state = scope.setdefault("state", {})
        principal = None
        if pol.auth:
            token = self.credentials(pol.auth, headers)
            principal = await run_in_threadpool(self.authenticate, pol.auth, token) if token else None
            if principal is None:
                if pol.api or (method in UNSAFE and pol.auth == "admin"):
                    raise Reject(401, "missing or unknown token" if pol.auth == "student" else
                                 "admin token required")
                raise Reject(303, "Log in first.", {"location": self.login_page[pol.auth]})
            state[pol.auth] = principal

        if pol.rate:
            who = (str(principal.id) if pol.rate != "login" and principal is not None
                   else (scope.get("client") or ("unknown",))[0])
            wait = self.rates.retry_after(pol.rate, who)
            if wait is not None:
                what = {"login": "Too many failed logins from your address",
                        "upload": "Too many uploads in a short time",
                        "pages": "Too many requests for submission pages in a short time"}[pol.rate]
                raise Reject(429, f"{what}; try again in {wait} s.", {"retry-after": str(wait)})
            if pol.rate != "login":       # logins count only their failures (the route reports them)
                self.rates.hit(pol.rate, who)
            state["rate_key"] = who

        limit = pol.body if pol.body is not None else self.upload_limit + UPLOAD_OVERHEAD
        if method not in UNSAFE:
            limit = min(limit, 16 * KB)
        if length is not None and int(length) > limit:
            raise Reject(413, self._too_large(int(length), limit, pol))
        ctype = headers.get("content-type", "")
        media, options = parse_options_header(ctype)
        media = media.decode("latin-1").lower()
        if method in UNSAFE and pol.content and media not in pol.content:
            raise Reject(415, f"This address takes {' or '.join(pol.content)}, not {media or 'no content type'}.")

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, receive
            body += message.get("body", b"")
            if len(body) > limit:
                raise Reject(413, self._too_large(None, limit, pol))
            if not message.get("more_body", False):
                break

        if body and media == "application/json":
            if json_depth(bytes(body), pol.json_depth) > pol.json_depth:
                raise Reject(400, f"The JSON body is nested more than {pol.json_depth} levels deep.")
        if media == "multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary or len(boundary) > 200:
                raise Reject(400, "The form data has no multipart boundary.")
            if body.count(b"--" + boundary) - 1 > pol.parts:
                raise Reject(400, f"The form has more than {pol.parts} parts.")
            # asgi-csrf reads the boundary as the text after "; boundary=": give it exactly that form.
            new_ctype = b"multipart/form-data; boundary=" + boundary
            scope = {**scope, "headers": [(k, new_ctype if k.lower() == b"content-type" else v)
                                          for k, v in scope["headers"]]}
        elif media == "application/x-www-form-urlencoded":
            try:
                bytes(body).decode("utf-8")
            except UnicodeDecodeError:
                raise Reject(400, "The form data is not UTF-8 text.") from None

        if method in UNSAFE and "authorization" not in headers:
            sent = headers.get("x-csrftoken")
            if sent is None and media == "application/x-www-form-urlencoded":
                sent = next((v for k, v in parse_qsl(bytes(body).decode("utf-8")) if k == CSRF_FIELD), None)
            elif sent is None and media == "multipart/form-data":
                sent = _multipart_field(bytes(body), options[b"boundary"], CSRF_FIELD)
            cookie = csrf_state.get("cookie")
            if not cookie or not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"),
                                                                 cookie.encode("utf-8")):
                raise Reject(403, "This form has expired or was not sent from the leaderboard's own page: reload "
                                  "the page and send it again.")

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return scope, replay

    def _too_large(self, size: int | None, limit: int, pol: Policy) -> str:
        if pol.body is None:
            what = f"the upload is {_mb(size)}" if size is not None else "the upload is larger than that"
            return (f"Upload refused: {what}, over the {_mb(self.upload_limit)} limit for a prediction file. A "
                    "submission needs only 'ID,score' and one short row per test image (about 0.5 MB for 20,000 "
                    "images).")
        if size is not None:
            return f"Request refused: its body is {_mb(size)}, over the {_mb(limit)} this address accepts."
        return f"Request refused: its body is over the {_mb(limit)} this address accepts."

