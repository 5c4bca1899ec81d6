"""The offline dialogue engine: parsing callers and following the flow."""
