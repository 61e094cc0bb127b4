"""workshops and open data: sessions, slides, datasets, answers; cached open data exports

Revision ID: workshops0001
Revises: challenges0001
Create Date: 2026-11-28 00:00:00

"""
from alembic import op
import sqlalchemy as sa

import civic.core.time


# revision identifiers, used by Alembic.
revision = 'workshops0001'
down_revision = 'challenges0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('workshop_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('title', sa.JSON(), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('current_slide_id', sa.Integer(), nullable=True),
    sa.Column('is_self_paced', sa.Boolean(), nullable=False),
    sa.Column('template', sa.String(length=40), nullable=True),
    sa.Column('published_at', civic.core.time.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', civic.core.time.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', civic.core.time.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', civic.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', civic.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('draft', 'live', 'closed')", name=op.f('ck_workshop_session_known_state')),
    sa.ForeignKeyConstraint(['facilitator_id'], ['user.id'], name=op.f('fk_workshop_session_facilitator_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workshop_session')),
    sa.UniqueConstraint('code', name=op.f('uq_workshop_session_code'))
    )
    with op.batch_alter_table('workshop_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workshop_session_facilitator_id'), ['facilitator_id'], unique=False)

    op.create_table('workshop_dataset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.Column('created_at', civic.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'], name=op.f('fk_workshop_dataset_session_id_workshop_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workshop_dataset'))
    )
    with op.batch_alter_table('workshop_dataset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workshop_dataset_session_id'), ['session_id'], unique=False)

    op.create_table('workshop_slide',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.JSON(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('chart_source', sa.String(length=40), nullable=True),
    sa.Column('chart_type', sa.String(length=20), nullable=True),
    sa.Column('chart_params', sa.JSON(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=True),
    sa.Column('question_type', sa.String(length=10), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('area', sa.String(length=20), nullable=True),
    sa.Column('item_key', sa.String(length=20), nullable=True),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('is_revealed', sa.Boolean(), nullable=False),
    sa.CheckConstraint("chart_type IS NULL OR chart_type IN ('bar', 'stacked_bar', 'line', 'map')", name=op.f('ck_workshop_slide_known_chart_type')),
    sa.CheckConstraint("kind IN ('data', 'question', 'text')", name=op.f('ck_workshop_slide_known_kind')),
    sa.CheckConstraint("question_type IS NULL OR question_type IN ('single', 'multiple', 'rating', 'text', 'ranking')", name=op.f('ck_workshop_slide_known_question_type')),
    sa.CheckConstraint("kind <> 'question' OR question_type IS NOT NULL", name=op.f('ck_workshop_slide_question_typed')),
    sa.ForeignKeyConstraint(['dataset_id'], ['workshop_dataset.id'], name=op.f('fk_workshop_slide_dataset_id_workshop_dataset'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'], name=op.f('fk_workshop_slide_session_id_workshop_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workshop_slide')),
    sa.UniqueConstraint('session_id', 'position', name=op.f('uq_workshop_slide_session_id_position'))
    )
    with op.batch_alter_table('workshop_slide', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workshop_slide_session_id'), ['session_id'], unique=False)

    op.create_table('workshop_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slide_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('text', sa.String(length=120), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('is_hidden', sa.Boolean(), nullable=False),
    sa.Column('created_at', civic.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('rating IS NULL OR (rating >= 1 AND rating <= 5)', name=op.f('ck_workshop_answer_rating_range')),
    sa.ForeignKeyConstraint(['slide_id'], ['workshop_slide.id'], name=op.f('fk_workshop_answer_slide_id_workshop_slide'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workshop_answer')),
    sa.UniqueConstraint('slide_id', 'device_id', name=op.f('uq_workshop_answer_slide_id_device_id'))
    )

    op.create_table('open_data_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_at', civic.core.time.UTCDateTime(timezone=True), nullable=True),
    sa.Column('built_at', civic.core.time.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('building', 'ready', 'failed')", name=op.f('ck_open_data_export_known_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_data_export')),
    sa.UniqueConstraint('key', name=op.f('uq_open_data_export_key'))
    )


def downgrade():
    op.drop_table('open_data_export')
    op.drop_table('workshop_answer')
    with op.batch_alter_table('workshop_slide', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workshop_slide_session_id'))
    op.drop_table('workshop_slide')
    with op.batch_alter_table('workshop_dataset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workshop_dataset_session_id'))
    op.drop_table('workshop_dataset')
    with op.batch_alter_table('workshop_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workshop_session_facilitator_id'))
    op.drop_table('workshop_session')
