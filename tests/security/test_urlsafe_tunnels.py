"""15.11: IPv6 transition addresses that embed a private IPv4 are refused."""

from __future__ import annotations

import ipaddress

import pytest

from tripline.service.urlsafe import UnsafeURL, _bad, resolve_checked


@pytest.mark.parametrize(
    "addr",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, client 192.0.2.45
        "2001:0:7f00:1::1",  # Teredo with server 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "::ffff:10.0.0.1",
    ],
)
def test_tunnelled_private_ipv4_is_refused(addr):
    assert _bad(ipaddress.ip_address(addr))
    with pytest.raises(UnsafeURL):
        resolve_checked(f"http://[{addr}]/x.jpg")


@pytest.mark.parametrize("addr", ["2002:0808:0808::1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_stay_allowed(addr):
    assert not _bad(ipaddress.ip_address(addr))
