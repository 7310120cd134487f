"""Problems with stored test cases (issue 19, docs/problems.md), apart from their tables
(judge/store/problems.py): what a new version is made of before it is stored (draft), the
test set from a zip (package), the problem's files as the compiler sees them (files), the
workers' local copies of test data (cache), and compiling a checker at creation (probe)."""
