"""Benchmarks: cutout against rembg 2.0.86, and the measurements behind cutout's tuning."""
