"""The sharing services as plugins: their protocol and the registry that finds them."""
