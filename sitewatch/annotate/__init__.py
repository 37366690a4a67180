"""Publication figures, animations, report pieces and notebook display.

Importing this package is light: plotting modules load matplotlib when they
are imported themselves (``sitewatch.annotate.figures``), and
:mod:`sitewatch.annotate.provenance` needs no plotting library at all.

Main entry points: :func:`~sitewatch.annotate.figures.before_after`,
:func:`~sitewatch.annotate.figures.change_figure`,
:func:`~sitewatch.annotate.figures.compare`,
:func:`~sitewatch.annotate.figures.save_figure`.
"""
