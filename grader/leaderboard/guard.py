"""The ASGI layer in front of the app: everything decided from the request line and headers, before a byte of the
body is read, then the body read into memory within its route's limit.

In order, for every HTTP request:

1. the route's :class:`Policy` (declared on the endpoint with :func:`policy`; unknown routes get the default);
2. header sanity: a ``Content-Length`` that is not a number, a ``Cookie`` header that is not UTF-8 → 400 (cookies
   are read by :func:`parse_cookies`, which skips a pair it cannot read and keeps the others);
3. state-changing methods from a browser on another site or origin (``Sec-Fetch-Site`` other than same-origin or
   none, or an ``Origin`` other than the server's) → 403. This is the first CSRF defence; the second is step 9;
4. authentication for routes that need it (student token from ``Authorization: Bearer`` — which then is the only
   credential looked at — or the session cookie; TA token likewise) → 401 (API) or a redirect to the login page.
   The token is checked first: a correct one is taken even from an address over its limit of failures, so one
   student guessing cannot lock out everyone behind the same NAT; a wrong one counts as a failure of that address
   and, once the address is over the limit, is answered 429 (bearer guesses included);
5. rate limits: failed logins per client address (the peer, or what uvicorn's proxy-headers middleware resolved
   from a proxy in ``--forwarded-allow-ips``; ``X-Forwarded-For`` is never read here), uploads and costly pages
   per student → 429 with Retry-After;
6. ``Content-Length`` over the route's limit → 413 at once; the content type the route accepts → 415;
7. the body, counted as it streams in (a missing or lying ``Content-Length`` is caught here) → 413;
8. JSON nesting depth → 400; multipart boundary and number of parts → 400;
9. CSRF, signed double-submit bound to the session: every state-changing request must carry the value of the
   ``csrftoken`` cookie — random, HMAC-signed with the server secret over a hash of the visitor's session cookies,
   ``__Host-`` prefixed and SameSite=Strict behind https — in its ``csrftoken`` form field (the first field of
   every form here) or an ``X-CSRFToken`` header → else 403. A token minted for one session is refused with
   another's cookies, so a session cookie tossed in from a sibling host or over plain http does not carry the
   victim's open forms with it. The only exemption is a JSON API route whose caller authenticated with a bearer
   token in ``Authorization`` (which a page on another site cannot add without a CORS preflight this app never
   grants); any other ``Authorization`` header (``Basic``, which a browser may send by itself, or a token that
   does not authenticate) exempts nothing. The login forms are included: a page elsewhere cannot log a visitor
   into the attacker's account.

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
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl

from limits import parse as parse_limit

from python_multipart.multipart import FormParser, MultipartParseError, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match, Route

KB, MB = 1024, 1024 * 1024
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Policy:
    """What a route accepts. ``body``: most request-body bytes (None: the competition's upload limit plus
    multipart overhead); ``auth``: None, ``"student"`` or ``"admin"``; ``api``: errors as JSON (else HTML);
    ``content``: accepted body media types (empty: any); ``rate``: ``"upload"`` or ``"pages"`` (counted per
    student; failed logins are counted per address wherever a token is checked, ``Site.login_failed``);
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


def parse_cookies(header: str) -> dict[str, str]:
    """The ``Cookie`` header as ``{name: value}``, read leniently as browsers write it: pairs split on ``;``, each
    on its first ``=``, a quoted value unquoted. A pair without a name or ``=`` is skipped and the others kept
    (``http.cookies.SimpleCookie`` drops every cookie once one value is not to its taste, e.g. a JSON
    ``prefs={"theme": "dark"}`` set by another page on the same host, which would lock the visitor out of every
    form). For a name sent twice the first wins: browsers send the cookie of the longest path, then the oldest,
    first, so a duplicate tossed in later for a parent domain does not replace this host's own (one with a longer
    path would: the CSRF token's binding to the session is the defence there)."""
    jar: dict[str, str] = {}
    for pair in header.split(";"):
        name, eq, value = pair.partition("=")
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if eq and name and name not in jar:
            jar[name] = value
    return jar


def client_address(scope) -> str:
    """The address a request's failed logins count against: the peer, or the client that uvicorn's proxy-headers
    middleware resolved when the peer is a trusted proxy (``--forwarded-allow-ips``)."""
    return (scope.get("client") or ("unknown",))[0]


class CsrfTokens:
    """Signed double-submit tokens bound to a session: ``random.hmac(secret, random + binding)`` where the binding
    is a hash of the visitor's session cookies. A value the server did not make is refused even if a sibling site
    managed to set the cookie, and so is one made for another visitor's session."""

    def __init__(self, secret: bytes):
        self.key = hmac.new(secret, b"csrf-token", hashlib.sha256).digest()

    def _sig(self, nonce: str, binding: bytes) -> str:
        mac = hmac.new(self.key, nonce.encode("ascii") + b"|" + binding, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(mac).decode("ascii")

    def new(self, binding: bytes) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sig(nonce, binding)}"

    def valid(self, token: str | None, binding: bytes) -> bool:
        if not token or len(token) > 100 or not token.isascii() or token.count(".") != 1:
            return False
        nonce, sig = token.split(".")
        return hmac.compare_digest(sig, self._sig(nonce, binding))


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


def too_many(rate: str, wait: int) -> str:
    """The 429 message of limit ``rate``."""
    what = {"login": "Too many failed logins from your address (a correct token is still accepted)",
            "upload": "Too many uploads in a short time",
            "pages": "Too many requests for submission pages in a short time"}[rate]
    return f"{what}; try again in {wait} s."


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


class RateLimits:
    """Moving-window limits kept in this process's memory (with ``--workers N`` each process counts its own): at
    most N hits per window per (limit, client), as ``limits`` parses them (``"20/minute"``).

    The hits of a client are a deque of times, trimmed when that client is looked at; clients with no hit left in
    their window are swept every 1,000 hits, so memory stays bounded however many addresses knock. (``limits``'
    MemoryStorage, used before, started a timer thread after each hit that scanned every key: about 1 ms of CPU
    per upload under load, for the same answers.)"""

    SWEEP_EVERY = 1000

    def __init__(self, rates: dict[str, str], clock: Callable[[], float] = time.monotonic):
        self.items = {}
        for name, rate in rates.items():
            item = parse_limit(rate.replace(" ", ""))
            self.items[name] = (item.amount, float(item.get_expiry()))
        self.clock = clock
        self.hits: dict[tuple[str, str], deque[float]] = {}
        self.lock = threading.Lock()
        self.count = 0

    def _recent(self, name: str, who: str, now: float) -> deque[float] | None:
        times = self.hits.get((name, who))
        if times is not None:
            start = now - self.items[name][1]
            while times and times[0] <= start:
                times.popleft()
        return times

    def retry_after(self, name: str, who: str) -> int | None:
        """None when ``who`` may go on, else the seconds until it may."""
        amount, window = self.items[name]
        with self.lock:
            now = self.clock()
            times = self._recent(name, who, now)
            if times is None or len(times) < amount:
                return None
            return max(1, int(times[-amount] + window - now) + 1)

    def hit(self, name: str, who: str) -> None:
        with self.lock:
            now = self.clock()
            times = self._recent(name, who, now)
            if times is None:
                times = self.hits[(name, who)] = deque()
            times.append(now)
            while len(times) > self.items[name][0]:      # older hits no longer decide anything
                times.popleft()
            self.count += 1
            if self.count % self.SWEEP_EVERY == 0:
                for key in [k for k in self.hits if not self._recent(k[0], k[1], now)]:
                    del self.hits[key]

    def failure(self, name: str, who: str) -> int | None:
        """Count a failed attempt of ``who`` (a wrong token); the seconds to wait if ``who`` was already over the
        limit before it, else None. Callers check the token before calling this, so a correct token is never
        refused for its address's failures."""
        wait = self.retry_after(name, who)
        self.hit(name, who)
        return wait


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
        session_cookies: the names of the session cookies CSRF tokens are bound to.
    """

    def __init__(self, app, inner, *, authenticate, credentials, error, login_page: dict[str, str],
                 origin: Callable[[dict, dict], str], upload_limit: int, rates: "RateLimits | dict[str, str]",
                 secure: bool, csrf_secret: bytes, csrf_cookie: str = CSRF_FIELD,
                 session_cookies: tuple[str, ...] = ()):
        self.app, self.inner = app, inner
        self.csrf, self.csrf_cookie, self.secure = CsrfTokens(csrf_secret), csrf_cookie, secure
        self.session_cookies = session_cookies
        self.authenticate, self.credentials, self.error = authenticate, credentials, error
        self.login_page, self.origin, self.upload_limit = login_page, origin, upload_limit
        self.rates = rates if isinstance(rates, RateLimits) else RateLimits(rates)
        self._fixed: dict[tuple[str, str], Policy] | None = None
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

    def _fixed_routes(self) -> dict[tuple[str, str], Policy]:
        """{(method, path): policy} for the paths of routes without path parameters, each found once by the same
        matching as any other request (so an earlier route that would match the path still wins)."""
        table = {}
        for route in self.app.router.routes:
            if isinstance(route, Route) and "{" not in route.path and route.methods:
                for method in route.methods:
                    scope = {"type": "http", "method": method, "path": route.path, "root_path": ""}
                    table[(method, route.path)] = self._match(scope)
        return table

    def _match(self, scope) -> Policy:
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(getattr(route, "endpoint", None), "__lb_policy__", None) or (
                    API_DEFAULT if scope["path"].startswith("/api/") else DEFAULT)
        return API_DEFAULT if scope["path"].startswith("/api/") else DEFAULT

    def policy_of(self, scope) -> Policy:
        """The policy of the route that will answer ``scope``: a table lookup for fixed paths, else matching."""
        if self._fixed is None:
            self._fixed = self._fixed_routes()
        if not scope.get("root_path"):
            pol = self._fixed.get((scope["method"], scope["path"]))
            if pol is not None:
                return pol
        return self._match(scope)

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

    def _csrf_scope(self, scope, jar: dict[str, str], state: dict) -> None:
        """Expose ``scope["csrftoken"]()`` to templates: the cookie's token if it was made for this visitor's
        session cookies, or a new one for them that the response will set (after a login or logout the next page
        gets one)."""
        state.update(token=None, set=False)
        binding = hashlib.sha256("\0".join(jar.get(n, "") for n in self.session_cookies).encode()).digest()
        current = jar.get(self.csrf_cookie)
        state["cookie"] = current if self.csrf.valid(current, binding) else None

        def token() -> str:
            if state["cookie"]:
                return state["cookie"]
            if state["token"] is None:
                state["token"], state["set"] = self.csrf.new(binding), True
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
        try:
            jar = parse_cookies(headers.get("cookie", "").encode("latin-1").decode("utf-8"))
        except UnicodeDecodeError:
            raise Reject(400, "The Cookie header cannot be read; clear this site's cookies and reload.") from None
        self._csrf_scope(scope, jar, csrf_state)

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
                wait = self.rates.failure("login", client_address(scope)) if token else None
                if wait is not None:
                    raise Reject(429, too_many("login", wait), {"retry-after": str(wait)})
                if pol.api or (method in UNSAFE and pol.auth == "admin"):
                    raise Reject(401, "missing or unknown token" if pol.auth == "student" else
                                 "admin token required")
                raise Reject(303, "Log in first.", {"location": self.login_page[pol.auth]})
            state[pol.auth] = principal

        # Login routes count only their failures, after checking the token (the route reports them).
        if pol.rate and principal is not None:
            who = str(principal.id)
            wait = self.rates.retry_after(pol.rate, who)
            if wait is not None:
                raise Reject(429, too_many(pol.rate, wait), {"retry-after": str(wait)})
            self.rates.hit(pol.rate, who)

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

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, receive
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise Reject(413, self._too_large(None, limit, pol))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)      # the one copy of the body this layer keeps (until it is replayed)
        del chunks

        if body and media == "application/json":
            if json_depth(body, pol.json_depth) > pol.json_depth:
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
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise Reject(400, "The form data is not UTF-8 text.") from None

        by_bearer = pol.api and principal is not None and "authorization" in headers
        if method in UNSAFE and not by_bearer:
            sent = headers.get("x-csrftoken")
            if sent is None and media == "application/x-www-form-urlencoded":
                sent = next((v for k, v in parse_qsl(body.decode("utf-8")) if k == CSRF_FIELD), None)
            elif sent is None and media == "multipart/form-data":
                sent = _multipart_field(body, options[b"boundary"], CSRF_FIELD)
            cookie = csrf_state.get("cookie")
            if not cookie or not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"),
                                                                 cookie.encode("utf-8")):
                raise Reject(403, "This form has expired or was not sent from the leaderboard's own page: reload "
                                  "the page and send it again.")

        # Handed on once, then forgotten here: a request waiting for its turn to be scored holds only the app's
        # copy (200 uploads in flight held 2.5 MB each before, ~470 MB in all).
        pending = [body]
        del body

        async def replay():
            if pending:
                return {"type": "http.request", "body": pending.pop(), "more_body": False}
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

