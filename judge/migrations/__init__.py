"""Versioned SQL files, applied in order by judge.storage.Storage.migrate."""
