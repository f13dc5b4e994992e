"""The guideline language front end: grammar → parse tree → AST, and diagnostics."""
