-- The Activations page lists every activation newest first, and finds one device across licenses.
CREATE INDEX activations_seen ON activations(first_seen_at, id);
CREATE INDEX activations_fingerprint ON activations(fingerprint);
