"""Reusable widgets: editors generated from param declarations."""
