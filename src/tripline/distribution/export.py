"""Cross-platform signal packets and CyberTipline associatedAccount mapping.

Signal packets give the destination side (the subscription, payment or
messaging service) what it needs to act: the URLs, usernames, keywords and
hashes behind each lead, with why and how sure. Format: docs/distribution.md.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from tripline.distribution.detect import Analysis, Lead
from tripline.signals import entry_type_names

FORMAT = "tripline.signals"
VERSION = 1

# The element sequence of the CyberTipline schema's associatedAccount type
# (cyber_tipline.xsd); XML output must keep this order.
ASSOCIATED_ACCOUNT_ELEMENTS = (
    "platform",
    "firstName",
    "middleName",
    "lastName",
    "approximateAge",
    "dateOfBirth",
    "phone",
    "email",
    "allEmailsReported",
    "address",
    "espService",
    "espIdentifier",
    "profileUrl",
    "screenName",
    "displayName",
    "profileBio",
    "groupIdentifier",
    "compromisedAccount",
    "accountTemporarilyDisabled",
    "accountPermanentlyDisabled",
    "ipCaptureEvent",
    "deviceId",
    "priorCTReport",
    "additionalInfo",
)
ASSOCIATED_ACCOUNT_TYPES = ("Billing", "Linked", "Business", "Creator", "Parent/Guardian", "Other")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _reason(lead: Lead) -> str:
    cats = sorted({d["category"] or "listed URL" for d in lead.destinations})
    return (
        f"distribution lead {lead.lead_id}: {len(lead.media_hits)} media with policy hits; links to {', '.join(cats)}"
    )


def lead_signals(lead: Lead, source_platform: str, created: str | None = None) -> list[dict]:
    created = created or _now()
    base = {
        "confidence": lead.score,
        "human_verified": lead.human_verified,
        "source_platform": source_platform,
        "created": created,
        "lead_id": lead.lead_id,
    }
    reason = _reason(lead)
    out = []
    if lead.handle:
        out.append(
            {
                "type": "username",
                "value": lead.handle,
                "platform": source_platform,
                "reason": f"{reason}; account on {source_platform}",
                **base,
            }
        )
    for d in lead.destinations:
        why = f"{reason}; {d['category'] or 'listed'} link in {d['where']}"
        if d["list_matches"]:
            why += "; on URL list " + ", ".join(sorted({m["list"] for m in d["list_matches"]}))
        out.append({"type": "url", "value": d["canonical"], "category": d["category"], "reason": why, **base})
        if d.get("account") and d.get("platform"):
            out.append(
                {
                    "type": "username",
                    "value": d["account"],
                    "platform": d["platform"],
                    "reason": f"{reason}; account linked from {source_platform}",
                    **base,
                }
            )
    for k, matched in sorted(lead.keywords.items()):
        out.append(
            {
                "type": "keyword",
                "value": matched.lower(),
                "keyword_id": k,
                "reason": f"{reason}; promotion wording '{k}'",
                **base,
            }
        )
    for t in lead.flagged_tags:
        out.append(
            {
                "type": "keyword",
                "value": "#" + t,
                "keyword_id": "hashtag",
                "reason": f"{reason}; hashtag co-occurs with flagged media",
                **base,
            }
        )
    for h in lead.media_hits:
        for hash_type in entry_type_names():
            if h.get(hash_type):
                # A human verified the lead (the account), not this media:
                # the hash is exported as the policy's finding, unconfirmed.
                out.append(
                    {
                        "type": "hash",
                        "value": h[hash_type],
                        "hash_type": hash_type,
                        "reason": f"{reason}; media in post {h['post_id']}: {h['reason']}",
                        **base,
                        "human_verified": False,
                        "lead_human_verified": lead.human_verified,
                    }
                )
    return out


def _merge(signals: list[dict]) -> list[dict]:
    """One entry per (type, value, platform): a URL shared by a ring appears
    once, with every lead that used it and the highest confidence."""
    merged: dict[tuple, dict] = {}
    for s in signals:
        value = s["value"].split("://", 1)[-1] if s["type"] == "url" else s["value"]
        key = (s["type"], value, s.get("platform"), s.get("hash_type"))
        if key not in merged:
            merged[key] = {**s, "lead_ids": [s["lead_id"]]}
            del merged[key]["lead_id"]
            continue
        m = merged[key]
        if s["lead_id"] not in m["lead_ids"]:
            m["lead_ids"].append(s["lead_id"])
        m["confidence"] = max(m["confidence"], s["confidence"])
        m["human_verified"] = m["human_verified"] or s["human_verified"]
        if s["type"] == "url" and s["value"].startswith("https:"):
            m["value"] = s["value"]
    return list(merged.values())


def associated_accounts(lead: Lead, analysis: Analysis | None = None, source_platform: str = "") -> list[dict]:
    """The lead's linked accounts as CyberTipline associatedAccount dicts.

    Keys are the schema's element names; ``"@type"`` is the required type
    attribute, and platform is ``{"#text": name, "@thirdPartyUser": bool}``
    (xmltodict conventions). Destination accounts and invite groups are
    "Linked" third-party accounts; other members of the lead's cluster on the
    reporting platform are "Other"."""
    out: list[dict] = []
    seen: set[tuple] = set()
    for d in lead.destinations:
        ident = (
            d.get("platform"),
            d.get("account"),
            d.get("group"),
            None if (d.get("account") or d.get("group")) else d["canonical"],
        )
        if ident in seen:
            continue
        seen.add(ident)
        acc: dict = {"@type": "Linked"}
        if d.get("platform"):
            acc["platform"] = {"#text": d["platform"], "@thirdPartyUser": True}
        acc["profileUrl"] = [d["canonical"]]
        if d.get("account"):
            acc["screenName"] = d["account"]
        # groupIdentifier asserts an organised group (per the schema), which
        # is a human's call: only verified leads carry it.
        if d.get("group") and lead.human_verified:
            acc["groupIdentifier"] = d["group"]
        acc["additionalInfo"] = (
            f"{d['category'] or 'listed'} destination linked from {d['where']} of "
            f"{source_platform or 'the reporting platform'} account {lead.handle or lead.account_id}"
            + (" (disguised link)" if d.get("obfuscated") else "")
            + (f" (behind redirect {d['decoded_from']})" if d.get("decoded_from") else "")
        )
        out.append(acc)
    if analysis is not None and lead.cluster_id:
        cluster = next((c for c in analysis.clusters if c.id == lead.cluster_id), None)
        for member in cluster.members if cluster else []:
            if member == lead.account_id or member not in analysis.signals:
                continue
            a = analysis.signals[member].account
            acc = {"@type": "Other"}
            if source_platform:
                acc["espService"] = source_platform
            acc["espIdentifier"] = a.id
            if a.handle:
                acc["screenName"] = a.handle
            if a.display_name:
                acc["displayName"] = [a.display_name]
            if a.bio:
                acc["profileBio"] = a.bio
            if lead.human_verified:
                acc["groupIdentifier"] = lead.cluster_id
            acc["additionalInfo"] = (
                f"shares destinations or hashtags with {lead.handle or lead.account_id} (cluster {lead.cluster_id})"
            )
            out.append(acc)
    return out


def associated_account_xml(acc: dict) -> ET.Element:
    """An ``<associatedAccount>`` element in schema order."""
    el = ET.Element("associatedAccount", {"type": acc["@type"]})
    for name in ASSOCIATED_ACCOUNT_ELEMENTS:
        if name not in acc:
            continue
        values = acc[name] if isinstance(acc[name], list) else [acc[name]]
        for v in values:
            child = ET.SubElement(el, name)
            if isinstance(v, dict):
                child.text = str(v.get("#text", ""))
                for k, av in v.items():
                    if k.startswith("@"):
                        child.set(k[1:], str(av).lower() if isinstance(av, bool) else str(av))
            else:
                child.text = str(v).lower() if isinstance(v, bool) else str(v)
    return el


def signal_packets(
    analysis: Analysis, *, source_platform: str, include_unverified: bool = False, created: str | None = None
) -> dict:
    """The export document. Only human-verified leads unless
    ``include_unverified``; rejected leads never."""
    created = created or _now()
    chosen = [
        lead
        for lead in analysis.leads
        if lead.state == "verified" or (include_unverified and lead.state == "unverified")
    ]
    signals = []
    leads = []
    for lead in chosen:
        signals += lead_signals(lead, source_platform, created)
        leads.append(
            {
                "lead_id": lead.lead_id,
                "account_id": lead.account_id,
                "username": lead.handle,
                "score": lead.score,
                "human_verified": lead.human_verified,
                "cluster_id": lead.cluster_id,
                "associatedAccount": associated_accounts(lead, analysis, source_platform),
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": created,
        "source_platform": source_platform,
        "include_unverified": include_unverified,
        "signals": _merge(signals),
        "leads": leads,
    }
