"""Research scripts around the shipped model: measuring training runs and shipping weights."""
