"""One module per endpoint family; resources hold HTTP handling only."""
