"""A Judge0-compatible code-execution engine: the domain (config, languages, submissions,
storage, queue, sandbox, pipeline). Imports nothing from api/ or workers/."""
