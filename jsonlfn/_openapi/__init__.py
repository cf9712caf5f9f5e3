"""The OpenAPI document (3.2, and the 3.1 export) and the interactive docs page."""
