from ufctl.cli import main

raise SystemExit(main())
