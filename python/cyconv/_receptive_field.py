"""Receptive field (placeholder)."""
from ._convolution import _todo as receptive_field
