"""The control plane's certificate authority (core room: imports only core modules).

* :mod:`.authority` — the CA itself: X.509 root and intermediate (ECDSA P-256),
  SSH CA (Ed25519); private keys only in the vault, public parts under
  ``STATE/pki``; init, rotation, root offline/online.
* :mod:`.issue` — SSH host and user certificates, TLS server certificates.
* :mod:`.records` — the register of issued certificates (table ``certificates``).
* :mod:`.revocation` — revoking by serial or key fingerprint; the OpenSSH KRL.
* :mod:`.verify` — checking a host's SSH certificate before talking to it.

Nothing is imported here, so the Alembic environment can load
:mod:`.records` without pulling in the rest.
"""
