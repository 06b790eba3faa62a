"""Built-in licbench plugins, registered through the ``licbench`` entry-point group."""
