"""The shared embedding cache: vectors keyed by model and text hash, in the programme's
database so that every machine reads what any one encoded

Revision ID: 5e2b9c41d7a3
Revises: 0a3be4907f76
Create Date: 2026-12-04 18:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e2b9c41d7a3'
down_revision = '0a3be4907f76'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'embedding_cache',
        sa.Column('model_id', sa.String(length=200), nullable=False),
        sa.Column('text_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('model_id', 'text_hash'),
    )


def downgrade():
    op.drop_table('embedding_cache')
