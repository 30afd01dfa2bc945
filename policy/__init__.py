"""Cloning manager, placement, dynamic scaling policy and the trace-replay simulator (pure logic).
Arrives with the simulator and cloning-manager issues."""
