"""Link extraction, canonicalisation, redirect decoding, URL lists and the
destination registry. All offline: nothing here may touch the network."""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tripline.links import (
    DestinationRegistry,
    UrlLists,
    canonicalize,
    decode_redirect,
    extract,
    extract_links,
    link_findings,
    url_expressions,
    url_hashes,
)
from tripline.links.lists import UrlListError, sha256_hex
from tripline.links.registry import RegistryError


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("tripline.links must never open a connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- extraction: (text, expected URLs as written after undoing the disguise) ---
EXTRACTION_CASES = [
    ("plain https://example.com/a?b=1 here", ["https://example.com/a?b=1"]),
    ("bare domain example.com/path.", ["example.com/path"]),
    ("bracket dot example[.]com", ["example.com"]),
    ("paren dot example(.)com/x", ["example.com/x"]),
    ("brace dot example{.}org", ["example.org"]),
    ("bracket word example[dot]net", ["example.net"]),
    ("spelled out example dot com", ["example.com"]),
    ("spelled chain www dot example dot co dot uk", ["www.example.co.uk"]),
    ("spelled with slash patreon dot com slash artist", ["patreon.com/artist"]),
    ("spaced dot example . com", ["example.com"]),
    ("space before dot example .com", ["example.com"]),
    ("space after dot example. com/tiers", ["example.com/tiers"]),
    ("letter-spaced p a t r e o n . c o m", ["patreon.com"]),
    ("spaced initials: I am A B C. Then", []),
    ("hxxp scheme hxxps://example[.]com/x", ["https://example.com/x"]),
    ("bracketed colon https[:]//example.com", ["https://example.com"]),
    ("cyrillic a pаtreon.com/x", ["patreon.com/x"]),
    ("greek omicron kο-fi.com/x", ["ko-fi.com/x"]),
    ("full-width ｅｘａｍｐｌｅ．ｃｏｍ", ["example.com"]),
    ("zero-width ex\u200bample.com", ["example.com"]),
    ("soft hyphen exam\u00adple.com", ["example.com"]),
    ("trailing punctuation (see https://example.com/a).", ["https://example.com/a"]),
    ("balanced parens https://en.example.org/wiki/A_(b)", ["https://en.example.org/wiki/A_(b)"]),
    ("invite t.me/+AbC123!", ["t.me/+AbC123"]),
    ("ip with path http://192.0.2.7:8080/x", ["http://192.0.2.7:8080/x"]),
    ("two links a.example.com and b.example.org", ["a.example.com", "b.example.org"]),
    ("duplicates example.com example.com", ["example.com"]),
    # must NOT extract
    ("email a@example.com", []),
    ("file names report.txt node.js photo.jpeg", []),
    ("sentence end. Next sentence", []),
    ("word-like tld: see you. me too", []),
    ("prices 5.99 and 3.50", []),
    ("cyrillic prose сайт работает", []),
    ("", []),
]


@pytest.mark.parametrize("text,expected", EXTRACTION_CASES, ids=[c[0][:30] for c in EXTRACTION_CASES])
def test_extraction_table(text, expected):
    assert extract_links(text) == expected


def test_disguised_links_are_flagged_as_obfuscated():
    flags = {link.url: link.obfuscated for link in extract("a example[.]com b https://plain.example.org")}
    assert flags == {"example.com": True, "https://plain.example.org": False}


# --- canonicalisation: Safe Browsing's published cases plus ours ---
CANONICAL_CASES = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
    # default ports go, others stay (Safe Browsing drops all; see docs)
    ("http://example.com:80/", "http://example.com/"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("HTTP://EXAMPLE.COM.:80/A/./b/../C", "http://example.com/A/C"),
    # IP forms
    ("http://0xc0.0xa8.0x00.0x01/", "http://192.168.0.1/"),
    ("http://0300.0250.0.01/", "http://192.168.0.1/"),
    ("http://192.168.1/", "http://192.168.0.1/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://[::FFFF:1]:8080/x", "http://[::ffff:1]:8080/x"),
    # user-info is dropped: it only ever disguises the real host
    ("http://trusted.example@other.example/x", "http://other.example/x"),
    # IDN and full-width hosts become punycode / ASCII
    ("http://ｅｘａｍｐｌｅ．ｃｏｍ/", "http://example.com/"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ("http://example.com\\a\\b", "http://example.com/a/b"),
    ("http://example.com/a/b/../../..", "http://example.com/"),
]


@pytest.mark.parametrize("raw,expected", CANONICAL_CASES, ids=[c[0][:40] for c in CANONICAL_CASES])
def test_canonical_table(raw, expected):
    assert canonicalize(raw) == expected


_PIECES = list("abcAB01.:/?#%@[]\\-_~ +&=\t") + [
    "%2",
    "%25",
    "%2F",
    "%2E",
    "..",
    "ü",
    "ｅ",
    "．",
    "\x01",
    "0x",
    "077",
    "08",
    "ff",
    "xn--",
]
_url_text = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        _url_text, st.builds(lambda s, t: s + t, st.sampled_from(["http://", "https://", "HTTP://", ""]), _url_text)
    )
)
def test_canonicalize_is_idempotent(raw):
    once = canonicalize(raw)
    assert canonicalize(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "a." * 50000,
        "a dot " * 20000,
        "http://" + "a/" * 50000,
        "[.]" * 30000,
        "p a " * 20000 + ". c o m",
        "а." * 30000,
        "%25" * 30000,
    ],
)
def test_pathological_input_stays_linear(text):
    import time

    t0 = time.perf_counter()
    for url in extract_links(text):
        canonicalize(url)
    canonicalize(text)
    assert time.perf_counter() - t0 < 10  # quadratic backtracking took minutes


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_canonicalize_never_raises_and_extract_never_raises(text):
    canonicalize(text)
    for url in extract_links(text):
        canonicalize(url)


def test_safe_browsing_expressions():
    assert url_expressions("http://a.b.c/1/2.html?param=1") == [
        "a.b.c/1/2.html?param=1",
        "a.b.c/1/2.html",
        "a.b.c/",
        "a.b.c/1/",
        "b.c/1/2.html?param=1",
        "b.c/1/2.html",
        "b.c/",
        "b.c/1/",
    ]
    hosts = {e.split("/", 1)[0] for e in url_expressions("http://a.b.c.d.e.f.g/1.html")}
    assert hosts == {"a.b.c.d.e.f.g", "c.d.e.f.g", "d.e.f.g", "e.f.g", "f.g"}
    assert {e.split("/", 1)[0] for e in url_expressions("http://1.2.3.4/1/")} == {"1.2.3.4"}


# --- redirect wrappers ---
REDIRECT_CASES = [
    ("https://www.google.com/url?q=https%3A%2F%2Fko-fi.com%2Fabc&sa=D", "https://ko-fi.com/abc"),
    (
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fpatreon.com%2Fx%3Fa%3D1%26b%3D2&h=AT0",
        "https://patreon.com/x?a=1&b=2",
    ),
    ("https://l.instagram.com/?u=https%3A%2F%2Flinktr.ee%2Fy&e=AT", "https://linktr.ee/y"),
    ("https://www.youtube.com/redirect?event=video&q=https%3A%2F%2Fdiscord.gg%2Fabc", "https://discord.gg/abc"),
    ("https://href.li/?https://mega.nz/folder/x", "https://mega.nz/folder/x"),
    ("https://www.deviantart.com/users/outgoing?https://ko-fi.com/z", "https://ko-fi.com/z"),
    # nested wrappers peel all the way
    (
        "https://www.google.com/url?q="
        + "https%3A%2F%2Fl.facebook.com%2Fl.php%3Fu%3Dhttps%253A%252F%252Ft.me%252F%252Babc",
        "https://t.me/+abc",
    ),
    # not wrappers: unchanged
    ("https://www.google.com/search?q=https://x.example", "https://www.google.com/search?q=https://x.example"),
    ("https://bit.ly/3abc", "https://bit.ly/3abc"),
    ("https://www.google.com/url?q=not-a-url", "https://www.google.com/url?q=not-a-url"),
]


@pytest.mark.parametrize("raw,expected", REDIRECT_CASES, ids=[c[0][:40] for c in REDIRECT_CASES])
def test_redirect_table(raw, expected):
    final, chain = decode_redirect(raw)
    assert final == expected
    assert bool(chain) == (raw != expected)


# --- URL lists ---
def test_url_list_kinds():
    lists = (
        UrlLists()
        .add("ex", "exact", ["HTTPS://Example.com:443/a/./b"])
        .add("hs", "host_suffix", ["files.example"])
        .add("pp", "path_prefix", ["t.me/+"])
        .add("hh", "hash", [sha256_hex("shop.example/tiers/")])
    )

    def kinds(u):
        return sorted((m["list"], m["kind"]) for m in lists.match(u))

    assert kinds("http://example.com/a/b") == [("ex", "exact")]  # scheme-insensitive
    assert kinds("http://example.com/a/b/c") == []
    assert kinds("https://cdn.files.example/x") == [("hs", "host_suffix")]
    assert kinds("https://notfiles.example/x") == []
    assert kinds("https://t.me/+abc") == [("pp", "path_prefix")]
    assert kinds("https://t.me/channel") == []
    assert kinds("https://www.shop.example/tiers/gold?x=1") == [("hh", "hash")]  # via a prefix expression


def test_hashed_list_full_url_and_hash_prefix(tmp_path):
    url = "https://dest.example/room/7"
    full = sha256_hex(canonicalize(url))
    (tmp_path / "hotline.txt").write_text(f"# hashed list\nhash {full}\nhash {sha256_hex('other.example/')[:8]}\n")
    lists = UrlLists().load(tmp_path / "hotline.txt")
    assert lists.match("HTTPS://DEST.example:443/room/7") == [{"list": "hotline", "kind": "hash"}]
    assert lists.match("http://x.other.example/any") == [{"list": "hotline", "kind": "hash"}]
    assert full in url_hashes(url)
    (tmp_path / "l.json").write_text(
        json.dumps({"name": "j", "entries": [{"kind": "host_suffix", "value": "a.example"}]})
    )
    assert UrlLists().load(tmp_path / "l.json").match("http://b.a.example/") == [{"list": "j", "kind": "host_suffix"}]
    with pytest.raises(UrlListError):
        UrlLists().add("x", "hash", ["not-hex"])
    with pytest.raises(UrlListError):
        UrlLists().add("x", "regex", ["a"])


# --- destination registry ---
@pytest.mark.parametrize(
    "url,category,platform,account,group",
    [
        ("https://www.patreon.com/someone", "subscription", "Patreon", "someone", None),
        ("ko-fi.com/someone", "payment", "Ko-fi", "someone", None),
        ("https://t.me/+AbCd", "messaging_invite", "Telegram", None, "AbCd"),
        ("https://t.me/joinchat/XyZ", "messaging_invite", "Telegram", None, "XyZ"),
        ("https://t.me/publicchannel", "messaging", "Telegram", "publicchannel", None),
        ("https://discord.gg/abc", "messaging_invite", "Discord", None, "abc"),
        ("https://discord.com/invite/abc", "messaging_invite", "Discord", None, "abc"),
        ("https://mega.nz/folder/x", "file_locker", "MEGA", None, None),
        ("https://linktr.ee/someone", "link_in_bio", "Linktree", "someone", None),
        ("https://someone.gumroad.com/l/x", "subscription", "Gumroad", "someone", None),
        ("https://bit.ly/3x", "shortener", "Bitly", None, None),
    ],
)
def test_registry_classifies(url, category, platform, account, group):
    c = DestinationRegistry.load().classify(url)
    assert (c.category, c.platform, c.account, c.group) == (category, platform, account, group)


def test_registry_is_an_operator_extendable_data_file(tmp_path):
    reg = DestinationRegistry.load()
    assert reg.classify("https://unknown.example/x") is None
    assert {"subscription", "payment", "messaging_invite", "file_locker", "link_in_bio"} <= set(reg.categories)
    assert reg.lead_categories() == {"subscription", "payment", "messaging_invite", "file_locker"}
    extra = tmp_path / "mine.toml"
    extra.write_text(
        "[categories.crowdfunding]\nlead_destination = true\nweight = 0.1\n\n"
        '[[destination]]\nhost = "unknown.example"\ncategory = "crowdfunding"\nplatform = "Unknown"\n\n'
        '[[destination]]\nhost = "linktr.ee"\ncategory = "payment"\n'
    )
    reg2 = DestinationRegistry.load(extra)
    assert reg2.classify("https://sub.unknown.example/x").category == "crowdfunding"
    assert reg2.classify("https://linktr.ee/x").category == "payment"  # later files win
    bad = tmp_path / "bad.toml"
    bad.write_text('[[destination]]\nhost = "x.example"\ncategory = "nope"\n')
    with pytest.raises(RegistryError):
        DestinationRegistry.load(bad)


# --- the policy-engine contract ---
def test_link_findings_contract_shape():
    lists = UrlLists().add("hotline", "path_prefix", ["t.me/+"])
    text = "menu: pаtreon[.]com/x and https://www.google.com/url?q=https%3A%2F%2Ft.me%2F%2Bgrp and example.org"
    findings = link_findings(text, lists, DestinationRegistry.load())
    required = {"url", "canonical", "host", "category", "list_matches", "decoded_from"}
    assert all(required <= set(f) for f in findings)
    by_host = {f["host"]: f for f in findings}
    assert by_host["patreon.com"]["category"] == "subscription" and by_host["patreon.com"]["obfuscated"]
    assert by_host["t.me"] == {
        **by_host["t.me"],
        "category": "messaging_invite",
        "canonical": "https://t.me/+grp",
        "list_matches": [{"list": "hotline", "kind": "path_prefix"}],
        "decoded_from": "https://www.google.com/url?q=https://t.me/+grp",
    }
    assert by_host["example.org"]["category"] is None and by_host["example.org"]["list_matches"] == []
    json.dumps(findings)  # plain data, for the policy's context
    # a list of URLs works as well as free text
    assert [
        f["canonical"]
        for f in link_findings(["HTTPS://Ko-Fi.com/a", "discord[.]gg/b"], None, DestinationRegistry.load())
    ] == ["https://ko-fi.com/a", "http://discord.gg/b"]
