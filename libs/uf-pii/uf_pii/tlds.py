"""Top-level-domain knowledge for e-mail validation, loaded offline.

Why: "logo@2x.png" or "build@1.0.zip-like" strings look like e-mails; only a
real TLD separates them.  We read the Public Suffix List snapshot that ships
*inside* the installed ``tldextract`` wheel (never its network fetch), and fall
back to a permissive alphabetic check if the package is absent.
"""

from __future__ import annotations

import functools
import pkgutil

# Used only if tldextract's bundled snapshot is unavailable.
_FALLBACK = frozenset(
    ["com", "org", "net", "edu", "gov", "mil", "int", "io", "co", "ai", "app", "dev", "info", "biz", "me", "us", "uk", "de", "fr", "ca", "es", "it", "nl", "be", "ch", "at", "se", "no", "dk", "fi", "pl", "pt", "ie", "au", "nz", "jp", "cn", "in", "br", "mx", "ru", "eu", "email", "online", "tech", "site", "xyz", "cloud"]
)


@functools.lru_cache(maxsize=1)
def known_tlds() -> frozenset[str]:
    """Lower-case TLD labels (ASCII and IDN) from the bundled PSL snapshot."""
    try:
        raw = pkgutil.get_data("tldextract", ".tld_set_snapshot")
    except (ImportError, OSError, FileNotFoundError):
        raw = None
    if not raw:
        return _FALLBACK
    tlds: set[str] = set()
    for line in raw.decode("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        label = line.lstrip("!*.").rsplit(".", 1)[-1].lower()
        if label:
            tlds.add(label)
            try:
                tlds.add(label.encode("idna").decode("ascii"))
            except UnicodeError:
                pass
    return frozenset(tlds) or _FALLBACK


def is_tld(label: str) -> bool:
    """True when ``label`` (case-insensitive) is a delegated top-level domain."""
    return label.lower() in known_tlds()
