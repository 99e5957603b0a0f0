"""networking-podswitch: Neutron's ML2 mechanism driver and L3 service plugin for a podswitch fabric.

Both only record what changed in a journal inside Neutron's own transaction (`journal/`); a worker sends it
to the controller through `podswitch.client`, so a slow or absent controller never slows a Neutron call."""
