"""The process a thread job runs in, so a job whose process stopped is marked interrupted

Revision ID: 9c4f2a7e1b63
Revises: 7b3e9c1d4a52
Create Date: 2026-11-26 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c4f2a7e1b63'
down_revision = '7b3e9c1d4a52'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runner', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('runner')
