"""The HTTP face: resources, request hooks, errors, API keys, the OpenAPI document."""
