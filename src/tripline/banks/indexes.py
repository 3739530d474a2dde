"""PDQ index folders derived from database rows, one per bank.

The database is the source of truth; an index is a fast copy of some of its
rows (a bank's PDQ entries, a video bank's frames). Each process keeps one
writer per bank open (the index allows a single writer), matching uses
read-only views that take no lock, and an index whose size drifted from the
database (a crash between the database commit and the index write) is rebuilt
from it when next opened.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tripline.index import PDQIndex, hex_to_codes
from tripline.store import BankRow

_CHUNK = 100_000


class SyncedIndexes:
    def __init__(
        self,
        folder: Callable[[BankRow], Path],
        expected: Callable[[str], int],
        rows: Callable[[str], Iterable[tuple[int, str]]],
    ):
        self._folder = folder        # the bank's index folder
        self._expected = expected    # how many rows the database holds for it
        self._rows = rows            # those rows as (id, PDQ hex)
        self._writers: dict[str, PDQIndex] = {}

    def writer(self, row: BankRow) -> PDQIndex:
        if row.name in self._writers:
            return self._writers[row.name]
        index = PDQIndex.open(self._folder(row))
        if len(index) != self._expected(row.name):
            index.close()
            index = self._build(row)
        self._writers[row.name] = index
        return index

    def reader(self, row: BankRow) -> PDQIndex:
        index = PDQIndex.open(self._folder(row), readonly=True)
        if len(index) != self._expected(row.name):
            index.close()
            self.writer(row)  # repairs as a side effect
            index = PDQIndex.open(self._folder(row), readonly=True)
        return index

    def rebuild(self, row: BankRow) -> PDQIndex:
        self.release(row.name)
        self._writers[row.name] = index = self._build(row)
        return index

    def drop(self, row: BankRow) -> None:
        self.release(row.name)
        shutil.rmtree(self._folder(row), ignore_errors=True)

    def release(self, name: str) -> None:
        old = self._writers.pop(name, None)
        if old is not None:
            old.close()

    def close(self) -> None:
        for index in self._writers.values():
            index.close()
        self._writers.clear()

    def _build(self, row: BankRow) -> PDQIndex:
        # Converted a chunk at a time: a 10M-row bank never holds 10M hex strings.
        ids: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        batch_ids: list[int] = []
        batch_hex: list[str] = []
        for entry_id, hx in self._rows(row.name):
            batch_ids.append(entry_id)
            batch_hex.append(hx)
            if len(batch_ids) >= _CHUNK:
                ids.append(np.asarray(batch_ids, dtype=np.int64))
                codes.append(hex_to_codes(batch_hex))
                batch_ids, batch_hex = [], []
        if batch_ids:
            ids.append(np.asarray(batch_ids, dtype=np.int64))
            codes.append(hex_to_codes(batch_hex))
        all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        all_codes = np.concatenate(codes) if codes else np.zeros((0, 32), dtype=np.uint8)
        return PDQIndex.build(self._folder(row), all_ids, all_codes)
