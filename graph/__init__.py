"""The design model: pure Python and networkx. Never imports torch or Qt."""
