"""Judge0's access checks (§2), in its order: IP filter, authentication, authorization,
maintenance mode. A Falcon middleware, so that no resource can forget one.

Resources declare what their responders need:

* ``public = True``: no check at all (``/``, the docs, the OpenAPI document);
* ``authorize``: the HTTP methods that also need the authorization token (Judge0: the
  submission list, DELETE and ``POST /authorize``);
* ``maintenance``: the methods refused while ``MAINTENANCE_MODE=true`` (single create and
  DELETE; batch create is not covered, as in Judge0).

A method a resource does not answer is an unknown route (404), so it is not checked here.
A WebSocket (the live events) is checked like its resource's GET.

The checks also settle who the client is, for the rate limit (api/ratelimit.py):
``req.context.client`` is its authentication token when it sent a valid one, else its address
(the peer, or what a trusted proxy forwarded). An invented token is no identity: with no
AUTHN_TOKEN configured, every token counts as the address it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

import falcon
import falcon.asgi

from judge.config import Config

from . import params

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: Iterable[str]) -> list[_Network]:
    """IPs or CIDR networks; an entry that is neither can match no address."""
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return found


def _within(address: str, networks: list[_Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


class Networks:
    """A set of IPs and CIDR networks: `address in networks`."""

    def __init__(self, entries: Iterable[str]):
        self.networks = _networks(entries)

    def __contains__(self, address: str) -> bool:
        return _within(address, self.networks)


class IpFilter:
    """ALLOW_IP / DISALLOW_IP. Each list has the other subtracted first, so an address on
    both counts as neither; entries may be IPs or (beyond Judge0) CIDR networks."""

    def __init__(self, allow: Iterable[str], disallow: Iterable[str],
                 trusted_proxies: Iterable[str]):
        allow, disallow = list(allow), list(disallow)
        allow_entries = [entry for entry in allow if entry not in disallow]
        # An allow list of entries that are not addresses still allows no one (fail closed).
        self.allow_list = bool(allow_entries)
        self.allowed = _networks(allow_entries)
        self.disallowed = _networks(entry for entry in disallow if entry not in allow)
        self.proxies = _networks(trusted_proxies)

    @property
    def active(self) -> bool:
        return self.allow_list or bool(self.disallowed)

    def client_ip(self, req: falcon.asgi.Request) -> str:
        """The peer's address or, when the peer is a trusted proxy, the last address in
        X-Forwarded-For that is not one (Rails' ``remote_ip``, minus its acceptance of the
        header from any peer, which would let anyone claim an allowed address)."""
        peer = req.remote_addr or ""
        if not _within(peer, self.proxies):
            return peer
        forwarded = [hop.strip() for hop in (req.get_header("X-Forwarded-For") or "").split(",")]
        for hop in reversed([hop for hop in forwarded if hop]):
            if not _within(hop, self.proxies):
                return hop
        return peer

    def permits(self, address: str) -> bool:
        """Judge0 answers 403 when the address is disallowed, or when an allow list exists
        and does not hold it. (Both at once made Judge0 render twice: a 500; here a 403.)"""
        if self.disallowed and _within(address, self.disallowed):
            return False
        return not self.allow_list or _within(address, self.allowed)


def _token_matches(provided: str | None, valid: Iterable[str]) -> bool:
    """Constant-time comparison against every configured token (no early exit)."""
    if provided is None:
        return False
    given = provided.encode()
    matched = False
    for token in valid:
        matched |= hmac.compare_digest(given, token.encode())
    return matched


class AccessControl:
    def __init__(self, config: Config):
        self.config = config
        self.ips = IpFilter(config.allow_ip, config.disallow_ip, config.trusted_proxies)

    async def process_resource(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                               resource: object, route_params: dict) -> None:
        method = req.method.upper()
        # a method the resource does not answer is an unknown route (404): nothing to check
        if self._identify(req, resource) and hasattr(resource, f"on_{method.lower()}"):
            await self._check(req, resource, method, body=True)

    async def process_resource_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket,
                                  resource: object, route_params: dict) -> None:
        """Raising here refuses the handshake (Falcon closes with 3000 + the status)."""
        if self._identify(req, resource):
            await self._check(req, resource, "GET", body=False)  # a handshake has no body

    def _identify(self, req: falcon.asgi.Request, resource: object) -> bool:
        """The client's address as its identity until a token says otherwise; whether the
        resource is checked at all."""
        req.context.address = self.ips.client_ip(req)
        req.context.client = "ip:" + req.context.address
        return resource is not None and not getattr(resource, "public", False)

    async def _check(self, req: falcon.asgi.Request, resource: object, method: str,
                     body: bool) -> None:
        config = self.config
        if self.ips.active and not self.ips.permits(req.context.address):
            raise falcon.HTTPForbidden()
        if config.authn_token:
            provided = await _provided(req, config.authn_header, config, body)
            if not _token_matches(provided, config.authn_token):
                raise falcon.HTTPUnauthorized()
            # hashed: the rate limit's Redis keys must not reveal the token
            req.context.client = "t:" + hashlib.sha256(provided.encode()).hexdigest()[:32]
        if method in getattr(resource, "authorize", ()) and not await authorized(
                req, config, body):
            raise falcon.HTTPForbidden()  # no AUTHZ_TOKEN: these endpoints are always 403
        if method in getattr(resource, "maintenance", ()) and config.maintenance_mode:
            raise falcon.HTTPServiceUnavailable(description=config.maintenance_message)


async def authorized(req: falcon.asgi.Request, config: Config, body: bool = True) -> bool:
    """Whether the request holds the authorization token; never when AUTHZ_TOKEN is not
    set. Also for resources that show more to its holder (a problem's hidden cases)."""
    return bool(config.authz_token) and _token_matches(
        await _provided(req, config.authz_header, config, body), config.authz_token)


async def _provided(req: falcon.asgi.Request, name: str, config: Config,
                    body: bool) -> str | None:
    """The token from the header ``name``, else from the parameter of the same name
    (query string, then the body if there is one)."""
    value = req.get_header(name)
    if value is not None:
        return value
    found = (await params.merged(req, config.max_request_body) if body
             else params.query(req)).get(name)
    return found if isinstance(found, str) else None
