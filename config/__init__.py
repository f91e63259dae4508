"""rldojo configuration: typed defaults (config.py), loader (loader.py) and YAML presets."""

RLDOJO_CONFIG_PACKAGE = True  # marker: lets the CLI detect a foreign `config` package
