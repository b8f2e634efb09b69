"""Reusable widgets of the GUI pages: charts, log tail, run header, tables; one class per file."""
