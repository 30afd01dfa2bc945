"""The live loop: demand observed through Prometheus, forecasts and clone decisions made as it arrives, the
same cloning manager and scaling policy the simulator runs (controller), and a replayer for real traces."""
