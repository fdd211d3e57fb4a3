"""Profiles of SMEs and experts, the organisations they belong to, and their evidence."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from partnermatch import reference
from partnermatch.extensions import db, enum_column
from partnermatch.reference import Affiliation, EvidenceKind, OrganisationKind, ProfileKind
from partnermatch.timeutil import utcnow

if TYPE_CHECKING:
    from partnermatch.auth.models import User


class Organisation(db.Model):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("name", "economy", name="uq_organisations_name_economy"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganisationKind] = mapped_column(
        enum_column(OrganisationKind, "organisation_kind")
    )
    economy: Mapped[str] = mapped_column(String(2))
    website: Mapped[str] = mapped_column(String(300), default="")

    profiles: Mapped[list[Profile]] = relationship(back_populates="organisation")

    @validates("economy")
    def _check_economy(self, _key: str, value: str) -> str:
        return reference.normalise_economy(value, "organisation_economy")

    def as_record(self) -> dict[str, str]:
        """Return the organisation as export files and the API show it."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "economy": self.economy,
            "website": self.website,
        }

    @validates("kind")
    def _check_kind(self, _key: str, value: str) -> OrganisationKind:
        return reference.coerce_enum(OrganisationKind, value, "organisation_kind")


class ProfileSector(db.Model):
    __tablename__ = "profile_sectors"

    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class ProfileValueChain(db.Model):
    __tablename__ = "profile_value_chain"

    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Profile(db.Model):
    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint("kind != 'sme' OR affiliation = 'industry'", name="sme_is_industry"),
        CheckConstraint(
            "introduction_capacity IS NULL OR introduction_capacity BETWEEN 0 AND 100",
            name="capacity_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ProfileKind] = mapped_column(enum_column(ProfileKind, "profile_kind"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    affiliation: Mapped[Affiliation] = mapped_column(
        enum_column(Affiliation, "affiliation"), index=True
    )
    economy: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(120), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    offers: Mapped[str] = mapped_column(Text, default="")
    needs: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    website: Mapped[str] = mapped_column(String(300), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    # Introductions accepted per round as a partner; None: the programme's default.
    introduction_capacity: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # Set when the profile is deleted: hidden everywhere, restorable until it is purged
    # (RESTORE_DAYS later, by `profiles purge-deleted`).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    owner: Mapped[User | None] = relationship(back_populates="profile")
    organisation: Mapped[Organisation | None] = relationship(back_populates="profiles")
    sector_rows: Mapped[list[ProfileSector]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    value_chain_rows: Mapped[list[ProfileValueChain]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    evidence: Mapped[list[EvidenceItem]] = relationship(
        back_populates="profile",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=lambda: [EvidenceItem.year.desc().nulls_last(), EvidenceItem.id],
    )

    @validates("economy")
    def _check_economy(self, _key: str, value: str) -> str:
        return reference.normalise_economy(value)

    @validates("kind")
    def _check_kind(self, _key: str, value: str) -> ProfileKind:
        return reference.coerce_enum(ProfileKind, value, "kind")

    @validates("affiliation")
    def _check_affiliation(self, _key: str, value: str) -> Affiliation:
        return reference.coerce_enum(Affiliation, value, "affiliation")

    @property
    def sectors(self) -> list[str]:
        return [code for code in reference.SECTOR_CODES if code in self._codes(self.sector_rows)]

    @sectors.setter
    def sectors(self, codes: list[str]) -> None:
        wanted = reference.check_sectors(codes)
        self._replace_codes(self.sector_rows, wanted, ProfileSector)

    @property
    def value_chain(self) -> list[str]:
        present = self._codes(self.value_chain_rows)
        return [code for code in reference.VALUE_CHAIN_CODES if code in present]

    @value_chain.setter
    def value_chain(self, codes: list[str]) -> None:
        wanted = reference.check_value_chain(codes)
        self._replace_codes(self.value_chain_rows, wanted, ProfileValueChain)

    @staticmethod
    def _codes(rows: list[ProfileSector] | list[ProfileValueChain]) -> set[str]:
        return {row.code for row in rows}

    @staticmethod
    def _replace_codes(rows: list, wanted: list[str], row_class: type) -> None:
        # Keep the rows that stay: deleting and re-inserting the same primary key in one
        # flush would collide.
        for row in [row for row in rows if row.code not in wanted]:
            rows.remove(row)
        present = {row.code for row in rows}
        rows.extend(row_class(code=code) for code in wanted if code not in present)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def economy_name(self) -> str:
        return reference.economy_name(self.economy)

    def __repr__(self) -> str:
        return f"<Profile {self.id} {self.kind.value} {self.name!r}>"


class EvidenceItem(db.Model):
    __tablename__ = "evidence_items"
    __table_args__ = (
        CheckConstraint("year IS NULL OR (year >= 1900 AND year <= 2100)", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EvidenceKind] = mapped_column(enum_column(EvidenceKind, "evidence_kind"))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    year: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    profile: Mapped[Profile] = relationship(back_populates="evidence")

    @validates("kind")
    def _check_kind(self, _key: str, value: str) -> EvidenceKind:
        return reference.coerce_enum(EvidenceKind, value, "evidence_kind")
