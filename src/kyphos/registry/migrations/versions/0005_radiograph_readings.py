"""radiograph readings: image facts on the radiograph, observer readings, spacing source

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("radiograph", schema=None) as batch_op:
        batch_op.alter_column(
            "spacing_source", existing_type=sa.String(length=32), type_=sa.String(length=40)
        )
        batch_op.add_column(sa.Column("kind", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("burned_in_annotation", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("photometric", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("transfer_syntax", sa.String(length=64), nullable=True))
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spacing_source", sa.String(length=40), nullable=True))
    op.create_table(
        "reading",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("radiograph_id", sa.Integer(), nullable=False),
        sa.Column("observer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("landmarks", sa.Text(), nullable=True),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IS NULL OR role IN ('primary', 'adjudicator')", name=op.f("ck_reading_role")
        ),
        sa.ForeignKeyConstraint(
            ["observer_id"], ["user_account.id"], name=op.f("fk_reading_observer_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["radiograph_id"],
            ["radiograph.id"],
            name=op.f("fk_reading_radiograph_id_radiograph"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading")),
        sa.UniqueConstraint("radiograph_id", "observer_id", name=op.f("uq_reading_radiograph_id")),
    )
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reading_observer_id"), ["observer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reading_radiograph_id"), ["radiograph_id"], unique=False
        )
        batch_op.create_index(
            "uq_reading_one_adjudicator",
            ["radiograph_id"],
            unique=True,
            sqlite_where=sa.text("role = 'adjudicator'"),
            postgresql_where=sa.text("role = 'adjudicator'"),
        )


def downgrade() -> None:
    op.drop_table("reading")
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.drop_column("spacing_source")
    with op.batch_alter_table("radiograph", schema=None) as batch_op:
        for column in (
            "transfer_syntax",
            "photometric",
            "burned_in_annotation",
            "height",
            "width",
            "kind",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column(
            "spacing_source", existing_type=sa.String(length=40), type_=sa.String(length=32)
        )
