"""Neutron's REST API as a process: neutron 29 has no neutron-server script any more, its API is the WSGI
application `neutron.wsgi.api:application` (made for uWSGI); waitress serves it here.

Run as: python serve_api.py PORT (config from OS_NEUTRON_CONFIG_DIR / OS_NEUTRON_CONFIG_FILES)."""

from __future__ import annotations

import sys


def main() -> None:
    port = int(sys.argv[1])
    # neutron hands sys.argv to oslo.config when it boots: it must not see ours.
    sys.argv = sys.argv[:1]
    import waitress
    from neutron.wsgi.api import application

    # Several threads as uWSGI would give it: the outage and crash tests keep calls in flight.
    waitress.serve(application, host="127.0.0.1", port=port, threads=4, ident="neutron-api")


if __name__ == "__main__":
    main()
