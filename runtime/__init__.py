"""Compiles designs to PyTorch, trains, evaluates and exports them. Never imports Qt."""
