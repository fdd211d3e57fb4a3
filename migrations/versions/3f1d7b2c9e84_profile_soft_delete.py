"""Profiles are deleted softly first: deleted_at, restorable for 30 days, then purged

Revision ID: 3f1d7b2c9e84
Revises: 5e2b9c41d7a3
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f1d7b2c9e84'
down_revision = '5e2b9c41d7a3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_profiles_deleted_at'), ['deleted_at'], unique=False)


def downgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_profiles_deleted_at'))
        batch_op.drop_column('deleted_at')
