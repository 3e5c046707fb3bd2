"""The control plane's own disaster recovery (issue 19): a kit held by custodians, a restore anywhere, a drill.

* :mod:`.contents`: what restoring needs from the backup center alone, and its fingerprint;
* :mod:`.shares`: Shamir's K-of-N split of the kit's key (pycryptodome) and the share's checked text form;
* :mod:`.kitfile`: the sealed kit file (AES-256-GCM, the public header as associated data);
* :mod:`.make` with :mod:`.center_keys`: ``egov recovery kit`` (the kit's SSH key on the centers);
* :mod:`.status`: is the kit current, stale (why) or used (doctor, console, DR report);
* :mod:`.fetch`, :mod:`.verify`, :mod:`.recover`: ``egov recover`` on a fresh machine;
* :mod:`.standing`, :mod:`.witness`, :mod:`.serving`, :mod:`.activation`: a restored copy stays passive
  beside a live original (the original's lease, witnessed on the centers) until activated;
* :mod:`.remote`: running egov on a lab host (the drill, the lab test, the benchmark).
"""
