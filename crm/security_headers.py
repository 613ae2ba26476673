"""Security headers on every response: the Content-Security-Policy on HTML, and the browser's other protections.

Added by the app's one pure-ASGI layer (crm/front.py), outermost, so error pages, redirects and static files get them
too. It only appends precomputed header bytes to the response's start message: it runs on every request
(docs/architecture.md, "Request cost"). A header the response set itself (an attachment's `sandbox` policy, a download's nosniff) is kept,
never doubled.

The policy allows scripts, styles, fonts and connections from this origin only: no inline script, no inline style,
no `eval` (htmx is configured without it in templates/base.html), no plugins, no framing by any page (clickjacking),
and forms that post only here. A page that needs an inline `<style>` of its own (the print previews, whose
stylesheet is the PDF's) sends its own policy naming the style's hash: `policy_allowing_styles()`.
"""

from __future__ import annotations

import base64
import hashlib
import re

DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = _policy(DIRECTIVES)
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
    "microphone", "midi", "payment", "usb", "serial", "bluetooth", "hid", "xr-spatial-tracking",
    "browsing-topics", "interest-cohort"))
HSTS = "max-age=31536000"

# On every response, whatever its type.
ALWAYS: tuple[tuple[bytes, bytes], ...] = tuple((name.encode(), value.encode()) for name, value in (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("permissions-policy", PERMISSIONS_POLICY),
    ("cross-origin-opener-policy", "same-origin"),
))
# On HTML (and on bodiless answers: redirects, 204s): a PDF or a spreadsheet is not a page, and `object-src 'none'`
# would keep the browser's own PDF viewer from showing one.
CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
HSTS_HEADER = (b"strict-transport-security", HSTS.encode())
# A signed-in page is nobody else's business once its reader signs out (剩余信息保护): the browser keeps no copy
# (and htmx keeps no page snapshots: historyCacheSize 0 in templates/base.html).
NO_STORE = (b"cache-control", b"private, no-store")

STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)


def policy_allowing_styles(html: str) -> str:
    """The policy, with the hash of each inline `<style>` block of `html` allowed (and nothing else inline)."""
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
              for block in STYLE_BLOCK.findall(html)]
    return _policy({**DIRECTIVES, "style-src": " ".join(["'self'", *hashes])})


def add_security_headers(headers: list[tuple[bytes, bytes]], *, https: bool, signed_in: bool) -> None:
    """Appends to a response's start headers what it lacks of these. crm.front calls it for every response (static
    files, redirects and error pages included) and for the fast paths' answers alike."""
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    headers.extend(header for header in ALWAYS if header[0] not in present)
    page = not content_type or content_type.startswith(b"text/html")
    if page and CSP[0] not in present:
        headers.append(CSP)
    if page and signed_in and NO_STORE[0] not in present:
        headers.append(NO_STORE)
    if https and HSTS_HEADER[0] not in present:
        headers.append(HSTS_HEADER)
