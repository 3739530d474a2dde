"""Links: extraction from free text (disguised spellings too), Safe Browsing
style canonicalisation, offline redirect decoding, URL lists and the
destination registry. Nothing in this package ever fetches a URL.

>>> from tripline.links import canonicalize, extract_links
>>> canonicalize("HTTP://Example.COM.:80/a/./b/../c")
'http://example.com/a/c'
>>> extract_links("menu at example[.]com/tiers")
['example.com/tiers']
"""

from tripline.links.canonical import CanonicalUrl, canonicalize, parse, url_expressions
from tripline.links.extract import Link, deobfuscate, extract, extract_links
from tripline.links.findings import finding, link_findings
from tripline.links.lists import UrlListError, UrlLists, url_hashes
from tripline.links.redirects import decode_redirect, load_wrappers
from tripline.links.registry import Classification, DestinationRegistry, RegistryError

__all__ = [
    "CanonicalUrl",
    "Classification",
    "DestinationRegistry",
    "Link",
    "RegistryError",
    "UrlListError",
    "UrlLists",
    "canonicalize",
    "decode_redirect",
    "deobfuscate",
    "extract",
    "extract_links",
    "finding",
    "link_findings",
    "load_wrappers",
    "parse",
    "url_expressions",
    "url_hashes",
]
