"""Pixels: safe decoding and encoding, tensors and the compute device, perceptual hashes."""
