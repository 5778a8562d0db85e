"""The staff and operator CLI. Connection settings are the worker's (TEMPORAL_ADDRESS, ...).

Exit codes: 0 done · 1 failure (e.g. no server) · 2 invalid input · 3 duplicate (a nomination, session,
decision, or another counting key enrolled already) · 4 action refused by the workflow (or a read outside the
reader's scope) · 5 nomination not found · 7 no valid token. Reading (status, list, report, ballot status,
decision export) takes the reader's token too. The commands live in cli/, one module per group.
"""

from cli.main import main

if __name__ == "__main__":
    main()
