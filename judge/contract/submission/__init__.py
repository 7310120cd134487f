"""The submission resource: `fields` (its attributes, `fields`, `base64_encoded`), `rules`
(a create request cast and validated as Judge0 does) and `render` (a stored row as Judge0
renders it)."""
