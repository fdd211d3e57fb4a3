"""Shortlists and saved searches; notifications keep their link

Revision ID: b18e5c7a0f21
Revises: 026400b4d9c2
Create Date: 2026-12-05 06:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b18e5c7a0f21'
down_revision = '026400b4d9c2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('shortlist_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_shortlist_entries_profile_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shortlist_entries_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shortlist_entries')),
    sa.UniqueConstraint('user_id', 'profile_id', name=op.f('uq_shortlist_entries_user_id'))
    )
    with op.batch_alter_table('shortlist_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shortlist_entries_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shortlist_entries_user_id'), ['user_id'], unique=False)

    op.create_table('saved_searches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('digested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_saved_searches_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_searches'))
    )
    with op.batch_alter_table('saved_searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_searches_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('link')
    with op.batch_alter_table('saved_searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_searches_user_id'))
    op.drop_table('saved_searches')
    with op.batch_alter_table('shortlist_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shortlist_entries_user_id'))
        batch_op.drop_index(batch_op.f('ix_shortlist_entries_profile_id'))
    op.drop_table('shortlist_entries')
