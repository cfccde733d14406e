"""gradlab's NumPy autograd engine."""
