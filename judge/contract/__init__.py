"""The Judge0 contract, pure (no I/O beyond reading languages.yml): status ids, the wire
formats (base64, decimals, timestamps), output comparison, the language catalog, and the
submission resource (its attributes, validation, rendering)."""
