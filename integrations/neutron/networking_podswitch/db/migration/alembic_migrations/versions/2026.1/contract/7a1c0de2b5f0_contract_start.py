"""the contract branch (nothing to remove yet)

Revision ID: 7a1c0de2b5f0
Revises: start_networking_podswitch
"""

from neutron.db.migration import cli

revision = "7a1c0de2b5f0"
down_revision = "start_networking_podswitch"
branch_labels = (cli.CONTRACT_BRANCH,)


def upgrade():
    pass
