"""The audit store: SQL access to the autoscaler schema, one module per table's writes.

Knows SQL and nothing of Meta.  Queries name their tables with the ``autoscaler.`` schema.
"""
