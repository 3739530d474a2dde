"""Tables of the named-secret store and of classifier usage.

Shares ``models.Base``; migration ``0008_classifiers`` creates them.

- ``named_secrets``: a credential by name (e.g. a classifier's API key),
  encrypted with an envelope under the vault master key; never returned.
- ``classifier_usage``: calls per classifier per UTC day, the shared counter
  that keeps a daily budget across processes and instances.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class NamedSecret(Base):
    __tablename__ = "named_secrets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))  # what the secret is for, e.g. a classifier type
    key_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ClassifierUsage(Base):
    __tablename__ = "classifier_usage"

    classifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    calls: Mapped[int] = mapped_column(Integer)
