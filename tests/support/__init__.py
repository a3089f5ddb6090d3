"""Test helpers that are not tests: a throwaway PostgreSQL server, a scoring service on a
hand-made ONNX model."""
