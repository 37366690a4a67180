"""Command-line interface: one module per subcommand (see :mod:`sitewatch.cli.main`)."""
