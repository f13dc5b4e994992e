"""The grammar of .gl files, shipped as package data."""
