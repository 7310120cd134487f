"""Versioned SQL files, applied in order by judge.store.submissions.Storage.migrate."""
