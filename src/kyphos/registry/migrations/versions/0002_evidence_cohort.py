"""evidence cohorts: published cohorts users add with `kyphos evidence add`

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_cohort",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("citation", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=300), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("key <> ''", name=op.f("ck_evidence_cohort_key")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_cohort")),
        sa.UniqueConstraint("key", name=op.f("uq_evidence_cohort_key")),
    )


def downgrade() -> None:
    op.drop_table("evidence_cohort")
