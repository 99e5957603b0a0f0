"""The Neutron-side suite runs in `.venv-neutron` (neutron 29 with its test bases, podswitch installed
editable): `make test` runs it with `$(NEUTRON_PY) -m pytest integrations/neutron/tests`."""
