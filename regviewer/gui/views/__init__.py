"""Slice views and the linked view grid."""
