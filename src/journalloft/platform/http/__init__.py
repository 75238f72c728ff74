"""The native API over HTTP: the app factory (:mod:`.app`), middleware, problem+json, the body
reader, the OpenAPI document and docs, the dependencies that authenticate and guard
(:mod:`.dependencies`, :mod:`.guards`), and thin routes (:mod:`.routes`) that parse, call one
operation and render."""
