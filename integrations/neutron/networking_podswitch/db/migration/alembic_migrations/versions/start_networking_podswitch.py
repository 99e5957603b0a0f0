"""start networking-podswitch chain

Revision ID: start_networking_podswitch
Revises: None
"""

revision = "start_networking_podswitch"
down_revision = None


def upgrade():
    pass
