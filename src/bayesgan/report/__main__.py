from bayesgan.report.cli import main

raise SystemExit(main())
