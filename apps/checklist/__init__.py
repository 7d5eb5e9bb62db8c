"""`minigrad checklist`: the course's IDs (items.py) and the runner over the spec suite (cli.py)."""
