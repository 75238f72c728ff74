"""Thin routes: each parses the request, calls one operation and renders its answer."""
