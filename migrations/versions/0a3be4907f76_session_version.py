"""A session version per account, in the id Flask-Login stores, so that a logout, a password change or a deactivation ends every session

Revision ID: 0a3be4907f76
Revises: 9c4f2a7e1b63
Create Date: 2026-12-03 18:20:02.496605

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0a3be4907f76'
down_revision = '9c4f2a7e1b63'
branch_labels = None
depends_on = None


def upgrade():
    # Sessions issued before this revision carry a bare id and no longer load: everyone logs
    # in once more.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
