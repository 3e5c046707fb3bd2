"""``python -m controlplane`` runs the ``egov`` command."""

from controlplane.cli import main

main()
