"""Notification message values, so each reader gets the message in their language

Revision ID: 7b3e9c1d4a52
Revises: 5d2c8e7a1f40
Create Date: 2026-11-26 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b3e9c1d4a52'
down_revision = '5d2c8e7a1f40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_values', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('message_values')
