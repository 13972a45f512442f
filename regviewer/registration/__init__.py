"""Registration engines. ``base`` is the public contract; ``registry`` finds methods by name."""
