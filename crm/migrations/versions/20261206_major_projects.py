"""Major-project scheduling (issue 18): the major-project list, annual plans, monthly reports with revisions,
responsible departments (seeded), coordination items with their log, scheduling meetings and decisions, settings

Revision ID: db5b129fc7a2
Revises: a13c0000510c
Create Date: 2026-12-06 01:45:08.637115
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import crm.db

revision = 'db5b129fc7a2'
down_revision = 'a13c0000510c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('responsible_department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responsible_department')),
    sa.UniqueConstraint('code', name=op.f('uq_responsible_department_code')),
    sa.UniqueConstraint('name_zh', name=op.f('uq_responsible_department_name_zh'))
    )
    op.create_table('scheduling_setting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('close_day', sa.Integer(), nullable=False),
    sa.Column('margin_points', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_setting'))
    )
    op.create_table('scheduling_meeting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('other_attendees', sa.Text(), nullable=False),
    sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_scheduling_meeting_created_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_meeting'))
    )
    with op.batch_alter_table('scheduling_meeting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_meeting_held_on'), ['held_on'], unique=False)

    op.create_table('scheduling_meeting_attendee',
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['scheduling_meeting.id'], name=op.f('fk_scheduling_meeting_attendee_meeting_id_scheduling_meeting'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_scheduling_meeting_attendee_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('meeting_id', 'user_id', name=op.f('pk_scheduling_meeting_attendee'))
    )
    op.create_table('major_project',
    sa.Column('project_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('is_province', sa.Boolean(), nullable=False),
    sa.Column('is_city', sa.Boolean(), nullable=False),
    sa.Column('is_district', sa.Boolean(), nullable=False),
    sa.Column('listed_year', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('leader_name', sa.String(length=100), nullable=False),
    sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['leader_id'], ['user_account.id'], name=op.f('fk_major_project_leader_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_major_project_project_id_project')),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_major_project')),
    )
    with op.batch_alter_table('major_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_major_project_leader_id'), ['leader_id'], unique=False)

    op.create_table('major_project_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('planned_wan_cny', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_major_project_plan_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_major_project_plan')),
    sa.UniqueConstraint('project_id', 'year', name=op.f('uq_major_project_plan_project_id'))
    )
    op.create_table('major_project_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('progress', sa.Text(), nullable=False),
    sa.Column('completed_wan_cny', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.Column('is_late', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('filed_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('filed_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['filed_by_id'], ['user_account.id'], name=op.f('fk_major_project_report_filed_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_major_project_report_project_id_project')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_major_project_report_updated_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_major_project_report')),
    sa.UniqueConstraint('project_id', 'year', 'month', name=op.f('uq_major_project_report_project_id'))
    )
    with op.batch_alter_table('major_project_report', schema=None) as batch_op:
        batch_op.create_index('ix_major_project_report_period', ['year', 'month', 'project_id', 'completed_wan_cny'], unique=False)

    op.create_table('coordination_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('need', sa.Text(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('department_other', sa.String(length=100), nullable=False),
    sa.Column('deadline_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('raised_on', sa.Date(), nullable=False),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.Column('created_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_coordination_item_created_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['responsible_department.id'], name=op.f('fk_coordination_item_department_id_responsible_department')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_coordination_item_owner_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_coordination_item_project_id_project')),
    sa.ForeignKeyConstraint(['report_id'], ['major_project_report.id'], name=op.f('fk_coordination_item_report_id_major_project_report'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coordination_item'))
    )
    with op.batch_alter_table('coordination_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coordination_item_project_id'), ['project_id'], unique=False)
        batch_op.create_index('ix_coordination_item_status_deadline', ['status', 'deadline_on', 'id'], unique=False)

    op.create_table('major_project_report_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('progress', sa.Text(), nullable=False),
    sa.Column('completed_wan_cny', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.Column('saved_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('saved_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['major_project_report.id'], name=op.f('fk_major_project_report_revision_report_id_major_project_report'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['saved_by_id'], ['user_account.id'], name=op.f('fk_major_project_report_revision_saved_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_major_project_report_revision')),
    sa.UniqueConstraint('report_id', 'revision', name=op.f('uq_major_project_report_revision_report_id'))
    )
    op.create_table('coordination_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status_from', sa.String(length=20), nullable=True),
    sa.Column('status_to', sa.String(length=20), nullable=True),
    sa.Column('deadline_to', sa.Date(), nullable=True),
    sa.Column('owner_to_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_coordination_log_actor_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['coordination_item.id'], name=op.f('fk_coordination_log_item_id_coordination_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meeting_id'], ['scheduling_meeting.id'], name=op.f('fk_coordination_log_meeting_id_scheduling_meeting'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_to_id'], ['user_account.id'], name=op.f('fk_coordination_log_owner_to_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coordination_log'))
    )
    with op.batch_alter_table('coordination_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coordination_log_item_id'), ['item_id'], unique=False)

    op.create_table('meeting_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('recorded_at', crm.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['coordination_item.id'], name=op.f('fk_meeting_decision_item_id_coordination_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meeting_id'], ['scheduling_meeting.id'], name=op.f('fk_meeting_decision_meeting_id_scheduling_meeting'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_meeting_decision_recorded_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_decision')),
    sa.UniqueConstraint('meeting_id', 'item_id', name=op.f('uq_meeting_decision_meeting_id'))
    )
    with op.batch_alter_table('meeting_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_decision_item_id'), ['item_id'], unique=False)


    departments = sa.table(
        'responsible_department', sa.column('code', sa.String), sa.column('name_zh', sa.String),
        sa.column('name_en', sa.String), sa.column('position', sa.Integer), sa.column('is_active', sa.Boolean),
    )
    op.bulk_insert(departments, [
        {'code': code, 'name_zh': zh, 'name_en': en, 'position': (i + 1) * 10, 'is_active': True}
        for i, (code, zh, en) in enumerate(DEPARTMENTS)
    ])
    settings = sa.table('scheduling_setting', sa.column('id', sa.Integer), sa.column('close_day', sa.Integer),
                        sa.column('margin_points', sa.Numeric), sa.column('updated_at', crm.db.UTCDateTime),
                        sa.column('version', sa.Integer))
    op.bulk_insert(settings, [{'id': 1, 'close_day': 5, 'margin_points': 10, 'updated_at': datetime.now(UTC),
                               'version': 1}])


DEPARTMENTS = [
    ('natural_resources', '自然资源局', 'Natural Resources Bureau'),
    ('housing_construction', '住建局', 'Housing and Urban-Rural Development Bureau'),
    ('ecology_environment', '生态环境局', 'Ecology and Environment Bureau'),
    ('power_supply', '供电公司', 'Power Supply Company'),
    ('taxation', '税务局', 'Taxation Bureau'),
    ('approval_service', '行政审批服务局', 'Administrative Approval Service Bureau'),
    ('development_reform', '发展改革局', 'Development and Reform Bureau'),
    ('finance', '财政局', 'Finance Bureau'),
    ('emergency_management', '应急管理局', 'Emergency Management Bureau'),
    ('water_affairs', '水务局', 'Water Affairs Bureau'),
    ('investment_promotion', '招商局', 'Investment Promotion Bureau'),
    ('platform_company', '区级平台公司', 'Zone platform company'),
]


def downgrade() -> None:
    with op.batch_alter_table('meeting_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_decision_item_id'))

    op.drop_table('meeting_decision')
    with op.batch_alter_table('coordination_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coordination_log_item_id'))

    op.drop_table('coordination_log')
    op.drop_table('major_project_report_revision')
    with op.batch_alter_table('coordination_item', schema=None) as batch_op:
        batch_op.drop_index('ix_coordination_item_status_deadline')
        batch_op.drop_index(batch_op.f('ix_coordination_item_project_id'))

    op.drop_table('coordination_item')
    with op.batch_alter_table('major_project_report', schema=None) as batch_op:
        batch_op.drop_index('ix_major_project_report_period')

    op.drop_table('major_project_report')
    op.drop_table('major_project_plan')
    with op.batch_alter_table('major_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_major_project_leader_id'))

    op.drop_table('major_project')
    op.drop_table('scheduling_meeting_attendee')
    with op.batch_alter_table('scheduling_meeting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduling_meeting_held_on'))

    op.drop_table('scheduling_meeting')
    op.drop_table('scheduling_setting')
    op.drop_table('responsible_department')
