"""The network: zones, gateways and the flows allowed between them (issue 16).

:mod:`.model` reads the flow file (``network.yml`` next to the inventory) and
answers every question about placement, routes, paths and flows;
:mod:`.schema` validates it; :mod:`.rules` renders each gateway's nftables
boundary ruleset from it.
"""
