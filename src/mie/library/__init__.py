"""Built-in operators. Each module registers its handlers through the ``mie.operators`` entry-point group."""
