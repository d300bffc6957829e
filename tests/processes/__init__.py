"""Tests that start and kill processes of their own (gunicorn, flask, workers): all marked `slow`."""
