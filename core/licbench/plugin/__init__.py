"""Plugin machinery: hook specifications, the plugin manager and the typed registry."""
