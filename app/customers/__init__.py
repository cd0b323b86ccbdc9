"""The domain: what a customer is, how it is validated, how it is shown."""
