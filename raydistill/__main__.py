"""`python -m raydistill ...` (used by `ray job submit`)."""

from raydistill.cli import main

main()
