"""The contracts every plugin implements, one module per concept."""
