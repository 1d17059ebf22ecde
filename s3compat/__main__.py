"""`python -m s3compat` is the `s3compat` command."""

from s3compat.cli import main

raise SystemExit(main())
