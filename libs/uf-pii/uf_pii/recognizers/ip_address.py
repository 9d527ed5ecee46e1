"""IP_ADDRESS: IPv4 and IPv6 addresses validated by the ``ipaddress`` module.

Why validate with ``ipaddress``: regexes alone accept 999.1.1.1 or MAC
addresses.  Candidates are cut on non-address characters, so IPs inside
URLs ("http://[2001:db8::1]:8080/", "http://10.0.0.7:8080/") are found.
Look-alikes that remain valid are handled by context: a dotted quad right
after "version"/"v"/"build"/"rv:" or a product token ("Chrome/120.0.0.0")
is a version string, and a dotted quad that
continues with more ".digits" (OIDs, 10.0.19045.2965) is not an address.
"""

from __future__ import annotations

import ipaddress
import re

from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import structured_view

_V4 = re.compile(r"(?<![0-9A-Za-z.\-_])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z_]|\.[0-9])")
_V6 = re.compile(
    r"(?<![0-9A-Za-z:.%_\-])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)"
    r"(?:[0-9A-Fa-f:]*:(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])|[0-9A-Fa-f:]+)"
)
_VERSION_LABEL = re.compile(r"(?:\b(?:version|ver|release|build|firmware|fw|rev|rv|v)\s*[:=]?\s*)$", re.IGNORECASE)
_PRODUCT_TOKEN = re.compile(r"[0-9A-Za-z]/$")  # "Chrome/120.0.0.0" (user agents), not "http://1.2.3.4"


class IpAddressRecognizer(BaseRecognizer):
    """Detects IPv4 and IPv6 addresses (not CIDR suffixes or zone ids)."""

    name = "ip_address"
    type_name = "IP_ADDRESS"

    V4_SCORE = 0.95
    V6_SCORE = 0.95

    def detect(self, text: str) -> list[Finding]:
        has_dot = "." in text
        if not has_dot and ":" not in text:
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        if has_dot:
            for match in _V4.finditer(view):
                left = view[max(0, match.start() - 16) : match.start()]
                if _VERSION_LABEL.search(left) or _PRODUCT_TOKEN.search(left):
                    continue
                try:
                    ipaddress.IPv4Address(match.group(0))
                except ValueError:
                    continue
                findings.append(self._finding(match.start(), match.end(), self.V4_SCORE))
        if view.count(":") >= 2:
            for match in _V6.finditer(view):
                span = self._valid_v6(view, match.start(), match.end())
                if span is not None:
                    findings.append(self._finding(span[0], span[1], self.V6_SCORE))
        return findings

    @classmethod
    def _valid_v6(cls, view: str, start: int, end: int) -> tuple[int, int] | None:
        """Valid IPv6 span of the candidate, tolerating trailing punctuation and a bare port.

        "2001:db8:0:0:0:0:0:1:8443" (a port written without brackets, common in
        logs) is nine groups and invalid as a whole; the address is the first eight.
        """
        span = cls._trim_v6(view, start, end)
        if span is None:
            cut = view.rfind(":", start, end)
            if cut > start and view[cut + 1 : end].isdigit() and len(view[cut + 1 : end]) <= 5:
                span = cls._trim_v6(view, start, cut, after=end)
        return span

    @staticmethod
    def _trim_v6(view: str, start: int, end: int, after: int | None = None) -> tuple[int, int] | None:
        """Longest valid IPv6 prefix of ``view[start:end]`` (trailing ':'/'.' may be punctuation)."""
        while end - start >= 3:
            candidate = view[start:end]
            if any(ch not in ":." for ch in candidate) and candidate.count(":") >= 2:
                nxt = view[end : end + 2] if after is None else view[after : after + 2]
                if not (nxt[:1].isalnum() or nxt[:1] == "_" or (nxt[:1] == "." and nxt[1:].isdigit())):
                    try:
                        ipaddress.IPv6Address(candidate)
                        return start, end
                    except ValueError:
                        pass
            if view[end - 1] not in ":.":
                return None
            end -= 1
        return None
