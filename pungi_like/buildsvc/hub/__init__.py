"""The hub: Koji's XML-RPC API by area (see registry.API_MODULES), its server and auth."""
