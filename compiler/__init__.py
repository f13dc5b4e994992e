"""The compiler: checks, decision graph, evaluation, rendering."""
