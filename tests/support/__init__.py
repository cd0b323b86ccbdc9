"""Helpers shared by the tests and the benchmark (bench/): real servers and
what is read from them.

- ``redis_servers``: redis-server processes, standalone and as a cluster
- ``tls``: throwaway certificates for TLS-only servers
- ``service``: the service under gunicorn, and an HTTP session bound to it
- ``backends``: the least-privilege ACL user, and how the service reaches each server
- ``listing``: walking the customer listing by its Link headers
- ``slots``: the slot fields of CLUSTER NODES
- ``prometheus``: reading samples out of a metrics exposition
- ``figures``: figures the tests measure, printed at the end of the run

Nothing here is a fixture: conftest.py files build their fixtures from these.
"""
