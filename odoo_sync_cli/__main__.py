"""``python -m odoo_sync_cli`` runs the odoosync command line."""

from odoo_sync_cli.cli import main

main()
