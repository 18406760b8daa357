from policysite.cli import main

raise SystemExit(main())
