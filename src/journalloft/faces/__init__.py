"""Faces that speak other systems' own languages over the platform's operations.

A face here parses a standard's request, calls the same operations as the native API through
the platform's door for faces (:mod:`journalloft.platform.face`) and renders the answer in the
standard's form. A face names no service: what a service offers it, the service brings on its
spec (``face_parts``), and the composition root (:mod:`journalloft.app`) includes the faces.
"""
