"""The alerts API's routes, one module per resource."""
