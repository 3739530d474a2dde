"""Match hashed items against loaded banks. No I/O of its own: exact lookups
go through the callable it is given, PDQ lookups through each bank's index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tripline import signals
from tripline.banks.keypoints import KeypointIndex
from tripline.hashing import DIHEDRAL_VARIANTS, VARIANT_DESCRIPTIONS, hamming
from tripline.index import PDQIndex, hex_to_codes
from tripline.keypoints import verify
from tripline.normalise.variants import PAIRS, describe, split_region_id, verify_robust

KEYPOINTS = "keypoints"

ExactLookup = Callable[[str, list[str], list[str]], list[tuple[str, int, str]]]


@dataclass
class LoadedBank:
    name: str
    kind: str  # "match" or "allow"
    pdq_threshold: int  # inclusive
    pdq_quality_min: int
    index: PDQIndex | None  # None: the bank holds no PDQ entries
    # Region hashes of banked images (tripline.normalise), ids entry_id * REGION_SLOTS + code;
    # None when the bank was not built from images.
    regions: PDQIndex | None = None
    # ORB keypoint records of banked images (tripline.banks.keypoints); None
    # when the bank was not built from images.
    keypoints: KeypointIndex | None = None


@dataclass
class Match:
    bank: str
    bank_kind: str
    signal_type: str
    entry_id: int
    value: str
    distance: int
    variant: str  # dihedral variant of the query that matched ("original" for exact hashes)
    suppressed: bool = False  # True when an allow-list bank also matched this item
    # Set when only a normalised variant matched (tripline.normalise): which
    # normalisation of the upload ("border_trim", "banner_strip",
    # "banner_cover_bottom", ...) and which banked hash ("plain" = the bank's
    # stored PDQ, else a region of the banked image such as "keep_top75").
    normalisation: str | None = None
    bank_hash: str = "plain"
    # For keypoint matches (normalisation "keypoints"): how the upload lies on
    # the banked image, from tripline.keypoints.verify: inliers, scale,
    # rotation and coverage. ``distance`` is then the plain PDQ distance
    # between the two, kept to show that PDQ alone missed the copy.
    geometry: dict | None = None

    @property
    def explanation(self) -> str:
        """What a reviewer reads: how the upload had to be turned, mirrored,
        trimmed or cut to line up with the banked image."""
        if self.normalisation == KEYPOINTS and self.geometry:
            return describe_keypoints(self.geometry)
        if self.normalisation is None and self.bank_hash == "plain":
            return VARIANT_DESCRIPTIONS.get(self.variant, self.variant)
        return describe(self.normalisation, self.bank_hash) or describe(None, self.bank_hash)

    def to_dict(self) -> dict:
        return {**self.__dict__, "explanation": self.explanation}


class Matcher:
    def __init__(
        self,
        banks: Sequence[LoadedBank],
        exact_lookup: ExactLookup,
        entry_values: Callable[[list[int]], dict[int, str]],
        *,
        owns_indexes: bool = True,
    ):
        self.banks = list(banks)
        self._exact_lookup = exact_lookup
        self._entry_values = entry_values
        # False: the indexes are a process's shared cache (Banks.matcher), not closed with the matcher.
        self._owns_indexes = owns_indexes

    def close(self) -> None:
        if not self._owns_indexes:
            return
        for bank in self.banks:
            if bank.index is not None:
                bank.index.close()
            if bank.regions is not None:
                bank.regions.close()
            if bank.keypoints is not None:
                bank.keypoints.close()

    @property
    def uses_keypoints(self) -> bool:
        """Whether any bank holds keypoints, i.e. items need them extracted."""
        return any(b.keypoints is not None and len(b.keypoints) for b in self.banks)

    def match(self, items: Sequence[dict]) -> list[list[Match]]:
        """``items`` carry md5, sha256, pdq, pdq_quality and pdq_dihedral (any may be None),
        and optionally pdq_variants (normalised variants, see tripline.normalise)."""
        results: list[list[Match]] = [[] for _ in items]
        if not self.banks:
            return results
        self._match_exact(items, results)
        self._match_pdq(items, results)
        self._match_keypoints(items, results)
        for found in results:
            _apply_allow_lists(found)
            found.sort(key=lambda m: (m.suppressed, m.distance, m.bank, m.entry_id))
        return results

    def _match_exact(self, items, results) -> None:
        names = [b.name for b in self.banks]
        kinds = {b.name: b.kind for b in self.banks}
        for stype in signals.exact_type_names():
            values = [it.get(stype) for it in items]
            wanted = sorted({v for v in values if v})
            if not wanted:
                continue
            by_value: dict[str, list[tuple[str, int]]] = {}
            for bank, entry_id, value in self._exact_lookup(stype, wanted, names):
                by_value.setdefault(value, []).append((bank, entry_id))
            for i, v in enumerate(values):
                for bank, entry_id in by_value.get(v, ()):
                    results[i].append(Match(bank, kinds[bank], stype, entry_id, v, 0, "original"))

    def _match_pdq(self, items, results) -> None:
        # One batched query per bank over every dihedral variant of every item.
        rows: list[tuple[int, int]] = []  # (item index, variant index)
        hexes: list[str] = []
        for i, it in enumerate(items):
            variants = it.get("pdq_dihedral") or ([it["pdq"]] if it.get("pdq") else [])
            for v, h in enumerate(variants):
                rows.append((i, v))
                hexes.append(h)
        if not hexes:
            return
        codes = hex_to_codes(hexes)
        for bank in self.banks:
            if bank.index is None or len(bank.index) == 0:
                continue
            eligible = np.array(
                [(items[i].get("pdq_quality") or 0) >= bank.pdq_quality_min for i, _ in rows], dtype=bool
            )
            if not eligible.any():
                continue
            sel = np.flatnonzero(eligible)
            hits = bank.index.search(codes[sel], bank.pdq_threshold)
            best: dict[tuple[int, int], tuple[int, int]] = {}  # (item, entry) -> (distance, variant)
            for q, (ids, dists) in zip(sel, hits, strict=True):
                item_i, variant_i = rows[q]
                for entry_id, dist in zip(ids.tolist(), dists.tolist(), strict=True):
                    key = (item_i, entry_id)
                    # Prefer the closest variant; on a tie, the unrotated one.
                    if key not in best or (dist, variant_i) < best[key]:
                        best[key] = (dist, variant_i)
            if not best:
                continue
            values = self._entry_values(sorted({e for _, e in best}))
            for (item_i, entry_id), (dist, variant_i) in sorted(best.items()):
                results[item_i].append(
                    Match(
                        bank.name,
                        bank.kind,
                        "pdq",
                        entry_id,
                        values.get(entry_id, ""),
                        int(dist),
                        DIHEDRAL_VARIANTS[variant_i],
                    )
                )
        self._match_robust(items, results)

    def _match_robust(self, items, results) -> None:
        """Second stage: the normalised variants of items (``pdq_variants``,
        see tripline.normalise) against the bank's stored PDQ, and each item's
        plain hash and variants against the bank's region hashes. Only pairs
        (item, entry) the plain stage did not match are kept, and only when
        the verifier confirms them."""
        queries: list[tuple[int, str, str, int]] = []  # (item, normalisation, hex, quality)
        for i, it in enumerate(items):
            if it.get("pdq"):
                queries.append((i, "original", it["pdq"], it.get("pdq_quality") or 0))
            for v in it.get("pdq_variants") or ():
                if v.get("normalisation") in PAIRS and v.get("pdq"):
                    queries.append((i, v["normalisation"], v["pdq"], v.get("quality") or 0))
        if not queries:
            return
        for bank in self.banks:
            if bank.index is None or len(bank.index) == 0:
                continue
            done = {
                (i, m.entry_id)
                for i, found in enumerate(results)
                for m in found
                if m.bank == bank.name and m.signal_type == "pdq"
            }
            best: dict[
                tuple[int, int], tuple[int, str, str]
            ] = {}  # (item, entry) -> (distance, normalisation, bank hash)
            for target_index, use_plain in ((bank.index, True), (bank.regions, False)):
                if target_index is None or len(target_index) == 0:
                    continue
                sel = [q for q in queries if q[1] != "original" or not use_plain]
                sel = [
                    q
                    for q in sel
                    if q[3] >= bank.pdq_quality_min
                    and (("plain" in PAIRS[q[1]]) if use_plain else any(t != "plain" for t in PAIRS[q[1]]))
                ]
                if not sel:
                    continue
                hits = target_index.search(hex_to_codes([q[2] for q in sel]), bank.pdq_threshold)
                for (item_i, norm, _, _), (ids, dists) in zip(sel, hits, strict=True):
                    for rid, dist in zip(ids.tolist(), dists.tolist(), strict=True):
                        if use_plain:
                            entry_id, region = rid, "plain"
                        else:
                            entry_id, region = split_region_id(rid)
                            if region not in PAIRS[norm]:
                                continue
                        key = (item_i, entry_id)
                        if key in done or not verify_robust(int(dist), bank.pdq_threshold):
                            continue
                        if key not in best or dist < best[key][0]:
                            best[key] = (int(dist), norm, region)
            if not best:
                continue
            live, values = self._live_values(bank, {e for _, e in best})
            for (item_i, entry_id), (dist, norm, region) in sorted(best.items()):
                if entry_id not in live:
                    continue
                results[item_i].append(
                    Match(
                        bank.name,
                        bank.kind,
                        "pdq",
                        entry_id,
                        values.get(entry_id, ""),
                        dist,
                        "original",
                        normalisation=None if norm == "original" else norm,
                        bank_hash=region,
                    )
                )

    def _live_values(self, bank: LoadedBank, entry_ids: set[int]) -> tuple[set[int], dict[int, str]]:
        """The entries still live in the bank's PDQ index, with their values:
        region hashes and keypoint records outlive a disabled or removed entry."""
        ids = np.asarray(sorted(entry_ids), dtype=np.int64)
        live = set(ids[bank.index._live_mask(ids)].tolist())
        return live, self._entry_values(sorted(live))

    def _match_keypoints(self, items, results) -> None:
        """Last stage, for items that carry ``keypoints`` (tripline.keypoints)
        and banks built from images: the bank's inverted file proposes a few
        banked images, and only those whose stored keypoints agree with the
        upload's on one placement (RANSAC) are matches. Items that already
        matched a bank are not tried against it again."""
        for bank in self.banks:
            if bank.keypoints is None or not len(bank.keypoints) or bank.index is None:
                continue
            matched = {i for i, found in enumerate(results) for m in found if m.bank == bank.name}
            best: dict[tuple[int, int], dict] = {}
            for i, it in enumerate(items):
                kp = it.get("keypoints")
                if kp is None or i in matched:
                    continue
                for row, _votes in bank.keypoints.candidates(kp):
                    check = verify(kp, bank.keypoints.keypoints(row))
                    if not check.confirmed:
                        continue
                    key = (i, bank.keypoints.entry_id(row))
                    if key not in best or check.inliers > best[key]["inliers"]:
                        best[key] = {
                            "inliers": check.inliers,
                            "scale": check.scale,
                            "rotation": check.rotation,
                            "coverage": check.coverage,
                        }
            if not best:
                continue
            live, values = self._live_values(bank, {e for _, e in best})
            for (item_i, entry_id), geometry in sorted(best.items()):
                if entry_id not in live:
                    continue
                value = values.get(entry_id, "")
                own = items[item_i].get("pdq")
                distance = hamming(own, value) if own and len(value) == 64 else 256
                results[item_i].append(
                    Match(
                        bank.name,
                        bank.kind,
                        "pdq",
                        entry_id,
                        value,
                        int(distance),
                        "original",
                        normalisation=KEYPOINTS,
                        bank_hash=KEYPOINTS,
                        geometry=geometry,
                    )
                )


def describe_keypoints(geometry: dict) -> str:
    share = round(100 * geometry.get("coverage", 0))
    text = (
        f"by local keypoints: {geometry.get('inliers', 0)} points of the banked image in the "
        f"same layout; the upload shows about {share}% of the banked image"
    )
    if share < 97:
        text += " (cropped, or partly covered)"
    return text


def _apply_allow_lists(found: list[Match]) -> None:
    """An allow-list hit (known benign, e.g. a meme template) suppresses every
    other match on the item; the hits stay visible, marked as suppressed."""
    if any(m.bank_kind == "allow" for m in found):
        for m in found:
            if m.bank_kind != "allow":
                m.suppressed = True


def is_flagged(found: Sequence[Match]) -> bool:
    return any(m.bank_kind == "match" and not m.suppressed for m in found)
