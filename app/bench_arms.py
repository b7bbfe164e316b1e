"""The campaign benchmark's arms and fixed settings, apart from the benchmark itself: `rea`'s
command line names them in its help without importing the benchmark (and what it pulls in)."""

ARMS = ("agent", "agent-transfer", "tpe", "tpe-median", "random")
REFERENCE = "tpe"  # the arm the agent's targets are measured against
EVAL_SEEDS = (1000, 1001, 1002)
