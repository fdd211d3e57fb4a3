"""Introduction capacity per profile

Revision ID: 22b67320475b
Revises: 82ea9d625699
Create Date: 2026-11-26 03:08:33.178894

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '22b67320475b'
down_revision = '82ea9d625699'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN with its CHECK inline: SQLite accepts it without rebuilding the table.
    op.add_column(
        'profiles',
        sa.Column(
            'introduction_capacity',
            sa.Integer(),
            sa.CheckConstraint(
                'introduction_capacity IS NULL OR introduction_capacity BETWEEN 0 AND 100',
                name=op.f('ck_profiles_capacity_range'),
            ),
            nullable=True,
        ),
    )


def downgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.drop_column('introduction_capacity')
