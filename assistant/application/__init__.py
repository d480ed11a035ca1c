"""The application facade every face uses (``facade.Assistant``) and its lifecycle (``lifecycle.running``).

Nothing is imported here, so a CLI command that never opens the assistant pays nothing for this package.
"""
