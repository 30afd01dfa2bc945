"""Cloning manager (quantile targets, scarcity allocation, placement) and the dynamic scaling policy: pure logic,
called alike by the simulator and the live controller."""
